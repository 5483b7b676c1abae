/**
 * Escaping of every string that comes from data (party, feature and file names, job and
 * enterprise IDs) before it enters the page. The report is opened by people at several
 * institutions; a name chosen by one party must not run script or change markup in the
 * browser of another.
 */

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Safe in element text and in quoted attribute values, in HTML and inline SVG alike. */
export function escapeHtml(text: string): string {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

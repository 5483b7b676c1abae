/**
 * `--audit <dir>` of the in-process commands that run a bank and an agency together: each
 * party appends to its own signed log, `<dir>/bank.jsonl` and `<dir>/agency.jsonl`, with its
 * own key (`<dir>/<party>.key`, made on first use, never overwritten).
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import { AuditLog } from '../governance/audit.ts';
import { generateKeyPair, loadSecretKey, saveKeyPair } from '../governance/keys.ts';

export async function openPartyAudits(dir: string): Promise<{ bank: AuditLog; agency: AuditLog }> {
  await mkdir(dir, { recursive: true }).catch((e: Error) => {
    throw errors.outputUnwritable(dir, e.message);
  });
  const open = async (party: 'bank' | 'agency') => {
    const prefix = join(dir, party);
    const exists = await stat(`${prefix}.key`).then(
      () => true,
      () => false,
    );
    if (!exists) await saveKeyPair(prefix, generateKeyPair());
    return AuditLog.open(`${prefix}.jsonl`, { party, key: await loadSecretKey(`${prefix}.key`) });
  };
  return { bank: await open('bank'), agency: await open('agency') };
}

/**
 * Training progress on stderr: a bar per phase redrawn in place on a terminal, and one line
 * per epoch otherwise (logs, CI), so stdout stays clean for --json.
 */
import type { TrainingProgress } from '../lr/progress.ts';

export function progressPrinter(stream: NodeJS.WriteStream) {
  const tty = stream.isTTY === true;
  let open = false;
  const line = (text: string) => {
    if (tty) {
      stream.write(`\r\x1b[2K${text}`);
      open = true;
    }
  };
  const print = (text: string) => {
    if (open) stream.write('\n');
    open = false;
    stream.write(text + '\n');
  };
  return {
    update(event: TrainingProgress) {
      switch (event.phase) {
        case 'align':
          print(`aligned ${event.rows} rows by PSI`);
          break;
        case 'keys':
          print('CKKS keys received from the arbiter');
          break;
        case 'batch':
          line(`epoch ${event.epoch + 1}/${event.epochs} ${bar((event.batch + 1) / event.batches)} batch ${event.batch + 1}/${event.batches}`);
          break;
        case 'epoch':
          print(`epoch ${event.epoch + 1}/${event.epochs}  loss ${event.loss.toFixed(5)}${event.stop ? '  (early stop)' : ''}`);
          break;
        case 'evaluate':
          print(`scoring ${event.rows} validation rows`);
          break;
      }
    },
    finish() {
      if (open) stream.write('\n');
      open = false;
    },
  };
}

function bar(fraction: number, width = 24): string {
  const full = Math.round(fraction * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

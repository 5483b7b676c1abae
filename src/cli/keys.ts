/** `jinqiao keys generate`: a party's Ed25519 signing key pair for consent tokens and audit logs. */
import type { Command } from 'commander';
import { generateKeyPair, saveKeyPair } from '../governance/keys.ts';
import { commandGroup } from './governance-options.ts';
import { runCommand } from './run-command.ts';

export function keysCommand(): Command {
  const keys = commandGroup('keys', 'Ed25519 signing keys for consent tokens and audit logs');
  keys
    .command('generate')
    .description('generate a key pair: <prefix>.key (secret, mode 0600, never overwritten) and <prefix>.pub (to hand to partners)')
    .requiredOption('--out <prefix>', 'path prefix of the two files, e.g. keys/tax-bureau')
    .action((opts: { out: string }) =>
      runCommand(async () => {
        const pair = generateKeyPair();
        const { secretKeyFile, publicKeyFile } = await saveKeyPair(opts.out, pair);
        process.stdout.write(`key id:      ${pair.keyId}\nsecret key:  ${secretKeyFile} (mode 0600; keep it on this machine)\npublic key:  ${publicKeyFile}\n`);
      }),
    );
  return keys;
}

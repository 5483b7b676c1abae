/** The `jinqiao` command: one sub-command per capability, each with --help. */
import { Command } from 'commander';
import { psiCommand } from './psi.ts';
import { binCommand } from './bin.ts';
import { runJobCommand, trainCommand } from './train.ts';
import { monitorCommand, scoreCommand } from './score.ts';
import { auditCommand } from './audit.ts';
import { consentCommand } from './consent.ts';
import { keysCommand } from './keys.ts';
import { policyCommand } from './policy.ts';
import { initPartyCommand } from './init-party.ts';
import { resumeCommand, serveCommand, submitCommand } from './serve.ts';
import { verifyCommand } from './verify.ts';
import { lookupCommand } from './lookup.ts';
import { approveCommand, rejectCommand } from './approvals.ts';

export function buildCli(): Command {
  const program = new Command('jinqiao')
    .description('privacy-preserving joint credit modeling between banks and public data agencies')
    .version('0.1.0')
    .showHelpAfterError()
    // Options after a sub-command belong to it (`psi prepare --id` is not `psi --id`).
    .enablePositionalOptions()
    .exitOverride((err) => {
      // Usage errors (unknown option, missing argument) are bad input: exit 2, no stack.
      process.exit(err.exitCode === 0 ? 0 : 2);
    });
  for (const command of [psiCommand(), trainCommand(), runJobCommand(), binCommand(), scoreCommand(), monitorCommand(), consentCommand(), auditCommand(), policyCommand(), keysCommand(), initPartyCommand(), serveCommand(), submitCommand(), resumeCommand(), verifyCommand(), lookupCommand(), approveCommand(), rejectCommand()]) {
    program.addCommand(command.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2)));
  }
  return program;
}

await buildCli().parseAsync(process.argv);

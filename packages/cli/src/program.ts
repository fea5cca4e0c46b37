import { Command, CommanderError } from 'commander';
import { KeylaneError } from '@keylane/protocol';
import { createBenchCommand } from './commands/bench.js';
import { createDemoCommand } from './commands/demo.js';
import { commandPath, usageHint } from './commands/flags.js';
import { createUpCommand } from './commands/up.js';
import { VERSION } from './version.js';

export { usageHint };

/** The `keylane` command line. `exitCode` receives what the process should exit with. */
export function createProgram(
  setExitCode: (code: number) => void = (code) => (process.exitCode = code),
): Command {
  const program = new Command('keylane')
    .description(
      'Start a local Keylane item-service fleet, run the consistency demo, or measure what consistency costs',
    )
    .version(VERSION, '-V, --version', 'print the version')
    .configureHelp({ sortOptions: false })
    // A usage error is one line, `keylane: <what>`, then the hint each command sets below.
    .configureOutput({
      outputError: (message, write) => write(message.replace(/^error: /, 'keylane: ')),
    })
    .showHelpAfterError(usageHint('keylane'))
    // A usage error throws (main exits 2) instead of exiting 1, which `demo` keeps for a failed claim.
    .exitOverride();

  // Each command gets the settings above (help after an error, usage errors thrown; addCommand,
  // unlike command(), does not pass them on by itself), then its own hint.
  for (const command of [
    createUpCommand(setExitCode),
    createDemoCommand(setExitCode),
    createBenchCommand(),
  ]) {
    program.addCommand(
      command
        .copyInheritedSettings(program)
        .showHelpAfterError(usageHint(`keylane ${command.name()}`)),
    );
  }

  return program;
}

/**
 * Runs the CLI. A usage error (commander has printed it, and the hint) exits 2, and so does a
 * KeylaneError (unreachable Redis, a bad option value), as one line on stderr, followed by
 * the hint when it is about an option; anything else is a crash, with its stack.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const program = createProgram();
  // The command whose action runs, for the hint after an option value its action refused.
  let running = 'keylane';
  program.hook('preAction', (_program, action) => {
    running = commandPath(action);
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are ones too, with exit code 0.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof KeylaneError) {
      const hint = err.code === 'invalid_options' ? `${usageHint(running)}\n` : '';
      process.stderr.write(`keylane: ${err.message}\n${hint}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

#!/usr/bin/env node
import { runCli } from './registry.js';

// `ocs-zan dump … | head` closes the pipe early: that is the reader's choice, not a failure to report with a stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await runCli(process.argv.slice(2));

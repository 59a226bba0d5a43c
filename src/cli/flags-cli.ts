// `rf-edge flags push|pull`: keep flags/ (flags as code) and a real Unleash in step.

import { createLogger } from '../adapters/logger.ts';
import type { EdgeEnv } from '../config/env.ts';
import { pullFlags, pushFlags } from './flags-command.ts';

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export async function runFlagsCommand(options: {
  env: EdgeEnv;
  sub: string | undefined;
  dir: string | undefined;
  file: string | undefined;
  io: Io;
}): Promise<number> {
  const { env, io } = options;
  const dir = options.dir ?? env.FLAGS_DIR;
  if (!env.UNLEASH_URL || !env.UNLEASH_ADMIN_TOKEN) {
    io.err('rf-edge flags: UNLEASH_URL and UNLEASH_ADMIN_TOKEN must be set');
    return 2;
  }
  const log = createLogger(env.LOG_LEVEL);
  if (options.sub === 'push') {
    const result = await pushFlags({ dir, url: env.UNLEASH_URL, adminToken: env.UNLEASH_ADMIN_TOKEN, log });
    io.out(`flags push: ${JSON.stringify(result)}`);
    return 0;
  }
  if (options.sub === 'pull') {
    const result = await pullFlags({
      dir,
      url: env.UNLEASH_URL,
      adminToken: env.UNLEASH_ADMIN_TOKEN,
      ...(options.file ? { file: options.file } : {}),
    });
    io.out(`flags pull: ${JSON.stringify(result)}`);
    return 0;
  }
  io.err('rf-edge flags: expected "push" or "pull"');
  return 2;
}

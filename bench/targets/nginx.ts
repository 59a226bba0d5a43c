// nginx as a reverse proxy, when the machine has it: the reference for what a proxy written in C costs.
// One process (master_process off), one worker's worth of work, keep-alive to the upstream, no access log:
// the cheapest fair nginx setup on the same core budget as the node proxies.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, launch, stopChild, waitForHttp } from '../child-processes.ts';
import { findProgram } from '../find-program.ts';
import type { Target } from './target.ts';

export const NGINX_MISSING_MESSAGE = 'nginx: not installed (apt-get install nginx)';

/** The nginx binary on PATH, else Debian's /usr/sbin/nginx (sbin is often missing from a user's PATH), else null. */
export function findNginx(path?: string): string | null {
  return findProgram('nginx', '/usr/sbin/nginx', path);
}

export interface NginxConfOptions {
  /** Directory nginx may write to (pid file, temp paths, error log). */
  readonly prefix: string;
  readonly listenPort: number;
  /** `127.0.0.1:40123` */
  readonly upstreamHostPort: string;
  /** Idle keep-alive connections kept to the upstream. */
  readonly upstreamKeepalive: number;
}

export function nginxConf(options: NginxConfOptions): string {
  const { prefix } = options;
  return `# Written by the raptorflow-edge bench for one run.
daemon off;
master_process off;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;

events {
  worker_connections 4096;
}

http {
  access_log off;
  client_body_temp_path ${join(prefix, 'client_body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  keepalive_requests 1000000;
  keepalive_timeout 120s;

  upstream bench_upstream {
    server ${options.upstreamHostPort};
    keepalive ${options.upstreamKeepalive};
    keepalive_requests 1000000;
  }

  server {
    listen 127.0.0.1:${options.listenPort};
    location / {
      proxy_pass http://bench_upstream;
      # HTTP/1.1 with an empty Connection header is what lets nginx reuse upstream connections.
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering on;
    }
  }
}
`;
}

export async function startNginx(binary: string, upstreamOrigin: string, workDir: string): Promise<Target> {
  const prefix = join(workDir, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const listenPort = await freePort();
  const confFile = join(prefix, 'nginx.conf');
  writeFileSync(
    confFile,
    nginxConf({ prefix, listenPort, upstreamHostPort: new URL(upstreamOrigin).host, upstreamKeepalive: 64 }),
  );
  // -e: nginx opens its compiled-in error log before reading the conf; point it into the prefix too.
  const child = launch(binary, ['-p', prefix, '-c', confFile, '-e', join(prefix, 'error.log')], {
    logFile: join(prefix, 'stdout.log'),
  });
  const origin = `http://127.0.0.1:${listenPort}`;
  try {
    await waitForHttp(child, `${origin}/`, 10_000, `nginx (see ${join(prefix, 'error.log')})`);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return {
    name: 'nginx',
    description: 'nginx, 1 process, upstream keepalive, access_log off',
    origin,
    pid: child.pid ?? null,
    evidence: async () => ({ conf: confFile }),
    stop: () => stopChild(child),
  };
}

// A real nginx for the http-source tests and bench: Debian's binary, started
// on a free loopback port with its own config and temporary folder, stopped
// by its pid. Only 127.0.0.1 is ever listened on or asked.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

/** Why the nginx tests cannot run here, or null. */
export function nginxMissing(): string | null {
  if (!NGINX) return 'nginx is not installed (scripts/setup.sh installs Debian\'s nginx)';
  const r = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
  return r.status === 0 ? null : `nginx -v failed: ${r.stderr}`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export interface NginxOptions {
  /** `limit_rate` of the /slow/ location (default 16k): the same files, served slowly. */
  slowRate?: string;
  /**
   * Worker processes (default 1: a single process, no master). More than
   * one runs a master too, stopped by its pid as well, which stops them,
   * and a listening socket per worker (`reuseport`): the kernel spreads
   * connections over the workers by a hash of their addresses and ports.
   * With one shared socket (EPOLLEXCLUSIVE) an idle first worker takes
   * every connection.
   */
  workers?: number;
}

/**
 * nginx serving `www` at http://127.0.0.1:<port>/ (and /slow/). A file
 * `.fail500` in www makes every answer 500 while it exists.
 */
export class Nginx {
  readonly dir: string;
  readonly www: string;
  private child: ChildProcess | undefined;

  private constructor(readonly port: number, opts: NginxOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'faultc-nginx-'));
    chmodSync(this.dir, 0o755); // the worker may run as nobody
    this.www = join(this.dir, 'www');
    mkdirSync(this.www, { mode: 0o755 });
    mkdirSync(join(this.dir, 'tmp'));
    const d = this.dir;
    const workers = opts.workers ?? 1;
    writeFileSync(join(d, 'nginx.conf'), `daemon off;
master_process ${workers > 1 ? 'on' : 'off'};
worker_processes ${workers};
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 256; }
http {
  log_format ranges '$status $http_range $body_bytes_sent $pid';
  access_log ${d}/access.log ranges;
  client_body_temp_path ${d}/tmp;
  proxy_temp_path ${d}/tmp;
  fastcgi_temp_path ${d}/tmp;
  uwsgi_temp_path ${d}/tmp;
  scgi_temp_path ${d}/tmp;
  types { application/octet-stream img; }
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port}${workers > 1 ? ' reuseport' : ''};
    root ${this.www};
    location / {
      if (-f ${this.www}/.fail500) { return 500; }
    }
    location /slow/ {
      alias ${this.www}/;
      limit_rate ${opts.slowRate ?? '16k'};
    }
  }
}
`);
  }

  static async start(opts: NginxOptions = {}): Promise<Nginx> {
    const n = new Nginx(await freePort(), opts);
    await n.start();
    return n;
  }

  url(name: string): string {
    return `http://127.0.0.1:${this.port}/${name}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts (again) on the same port; resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(NGINX as string, ['-p', this.dir, '-c', join(this.dir, 'nginx.conf'), '-e', join(this.dir, 'error.log')], { stdio: 'ignore' });
    this.child = child;
    let exited = false;
    child.once('exit', () => {
      exited = true;
      if (this.child === child) this.child = undefined;
    });
    for (let i = 0; i < 200; i++) {
      if (exited) throw new Error(`nginx exited at start: ${this.errorLog()}`);
      if (await canConnect(this.port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.stop();
    throw new Error(`nginx did not listen on 127.0.0.1:${this.port} within 5 s: ${this.errorLog()}`);
  }

  /** Stops it by its pid (SIGTERM: fast shutdown) and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) {
      this.child = undefined;
      return;
    }
    const gone = new Promise((r) => child.once('exit', r));
    process.kill(child.pid as number, 'SIGTERM');
    await gone;
    this.child = undefined;
  }

  /** Access log lines: `status range bytes worker-pid`. */
  accessLog(): string[] {
    const p = join(this.dir, 'access.log');
    return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
  }

  errorLog(): string {
    const p = join(this.dir, 'error.log');
    return existsSync(p) ? readFileSync(p, 'utf8').slice(-2000) : '';
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// A language client for `faultc lsp` over a child process's stdio, on the
// protocol library VS Code's own client is built on. The protocol tests and
// the latency bench drive the server with it exactly as an editor does.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createProtocolConnection,
  PublishDiagnosticsNotification,
  StreamMessageReader,
  StreamMessageWriter,
  type ProtocolConnection,
  type PublishDiagnosticsParams,
} from 'vscode-languageserver-protocol/node';

export interface LspSession {
  connection: ProtocolConnection;
  child: ChildProcess;
  /** Resolves with the first diagnostics published for `uri` (at `version`, when given) after the call. */
  nextDiagnostics(uri: string, version?: number): Promise<PublishDiagnosticsParams>;
  stderr(): string;
  /** shutdown + exit, then waits for the process to end; resolves with its exit code. */
  close(): Promise<number | null>;
}

export async function startLspSession(cli: string, cwd: string, rootUri: string | null): Promise<LspSession> {
  const child = spawn(process.execPath, [cli, 'lsp', '--stdio'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const connection = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  const waiters: { uri: string; version: number | undefined; resolve: (p: PublishDiagnosticsParams) => void }[] = [];
  connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]!;
      if (w.uri === p.uri && (w.version === undefined || w.version === p.version)) {
        waiters.splice(i--, 1);
        w.resolve(p);
      }
    }
  });
  connection.listen();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await connection.sendRequest('initialize', { processId: process.pid, rootUri, capabilities: {} });
  await connection.sendNotification('initialized', {});
  return {
    connection,
    child,
    nextDiagnostics: (uri, version) => new Promise((resolve) => waiters.push({ uri, version, resolve })),
    stderr: () => err,
    async close() {
      await connection.sendRequest('shutdown');
      await connection.sendNotification('exit');
      const code = await exited;
      connection.dispose();
      return code;
    },
  };
}

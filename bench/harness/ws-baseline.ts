/** Starts and drives bench/baselines/ws-broadcast.ts as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';

export interface WsBaseline {
  url: string;
  pid: number;
  ask<T>(command: object): Promise<T>;
  stop(): Promise<void>;
}

export async function startWsBaseline(): Promise<WsBaseline> {
  const child: ChildProcess = spawn(process.execPath, [new URL('../baselines/ws-broadcast.ts', import.meta.url).pathname], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await lines.next();
    if (line.done) throw new Error('the ws baseline exited');
    return JSON.parse(line.value) as unknown;
  };
  const { port } = (await next()) as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/`,
    pid: child.pid!,
    async ask<T>(command: object) {
      child.stdin!.write(`${JSON.stringify(command)}\n`);
      return (await next()) as T;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

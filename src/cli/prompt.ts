import { createInterface } from 'node:readline';

/**
 * Questions for the person at the terminal. Only on a terminal: a script that pipes input gets an
 * error telling it which flag to use instead, never a question it cannot see.
 */
export function onTerminal(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks on standard error and reads one line; the answer is shown as typed. */
export function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  return new Promise<string>((resolve) => {
    rl.question(question, (answer) => resolve(answer));
    rl.once('close', () => resolve(''));
  }).finally(() => rl.close());
}

/** Asks for a secret: nothing is echoed. */
export function askSecret(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const output = rl as unknown as { _writeToOutput(text: string): void };
  let asked = false;
  // readline echoes through _writeToOutput: let the question through, nothing typed after it.
  output._writeToOutput = (text: string) => {
    if (!asked) process.stderr.write(text);
  };
  return new Promise<string>((resolve) => {
    rl.question(question, (answer) => {
      process.stderr.write('\n');
      resolve(answer);
    });
    asked = true;
    rl.once('close', () => resolve(''));
  }).finally(() => rl.close());
}

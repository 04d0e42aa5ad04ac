// Where a command writes: the process's standard output and error, or a
// test's buffers in their place.

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const processIo: Io = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) };

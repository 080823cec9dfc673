/** Errors that name what caused them (a file, a key, a row, a flag). */

/** An error about one file, optionally one key inside it. The message starts with the file path. */
export class FileError extends Error {
  constructor(
    /** The file at fault. */
    readonly file: string,
    message: string,
    /** The key at fault (a config.json key, a tensor name), when there is one. */
    readonly key?: string,
  ) {
    super(`${file}: ${key !== undefined ? `key "${key}": ` : ''}${message}`);
    this.name = 'FileError';
  }
}

/** Thrown for bad options (the CLI maps it to exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A CSV file that cannot be read as bars at all (missing file, wrong header). Malformed lines are not errors: they are counted rejections. */
export class CsvFormatError extends Error {
  override readonly name = 'CsvFormatError';
  readonly file: string;

  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.file = file;
  }
}

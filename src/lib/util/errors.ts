/**
 * A problem the user can fix (bad input, missing file, missing tool). Commands print its message as a
 * single line and exit non-zero; anything else is a bug and keeps its stack trace under DEBUG.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message)
    this.name = 'UserError'
  }
}

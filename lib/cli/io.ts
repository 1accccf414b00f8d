/** Streams a CLI command writes to; tests pass buffers. */
export interface CliIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
}

/** Parse `--flag value` / `--flag=value` options and positional arguments. */
export function parseArgs(
  args: string[],
  known: readonly string[],
): { options: Record<string, string>; positional: string[]; errors: string[] } {
  const options: Record<string, string> = {};
  const positional: string[] = [];
  const errors: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      if (!known.includes(name)) {
        errors.push(`unknown option --${name} (known: ${known.map((k) => `--${k}`).join(", ")})`);
        continue;
      }
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) errors.push(`option --${name} needs a value`);
      else options[name] = value;
    } else {
      positional.push(arg);
    }
  }
  return { options, positional, errors };
}

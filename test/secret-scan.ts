/** Find secret material in synthesized configuration: what must never reach Terraform state. */

/** Every string anywhere in `value`, with its key path. */
export function walkStrings(value: unknown, path: string[] = [], out: [string[], string][] = []): [string[], string][] {
  if (typeof value === "string") out.push([path, value]);
  else if (Array.isArray(value)) value.forEach((v, i) => walkStrings(v, [...path, String(i)], out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) walkStrings(v, [...path, k], out);
  }
  return out;
}

const SECRET_KEY = /(password|passwd|secret|token|private[_-]?key|credential|api[_-]?key)s?$/i;
const SECRET_VALUE = /-----BEGIN [A-Z ]*PRIVATE KEY-----|"private_key"\s*:|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]+|gh[pousr]_[0-9A-Za-z]{36}/;

/**
 * Strings that look like secret material: a non-empty value under a secret-like key
 * (`mysql-password`, `client_secret`, `auth_token`), or a value shaped like a private key,
 * a service-account key file, a Google API key or access token, or a GitHub token.
 */
export function plaintextSecrets(value: unknown): string[] {
  const found: string[] = [];
  for (const [path, s] of walkStrings(value)) {
    const key = path[path.length - 1] ?? "";
    // A bare Terraform reference is resolved at apply time; it carries no secret itself.
    if (/^\$\{[^}]+\}$/.test(s)) continue;
    if (SECRET_VALUE.test(s)) found.push(`${path.join(".")}=${s.slice(0, 24)}…`);
    else if (SECRET_KEY.test(key) && s !== "") found.push(`${path.join(".")}=${s}`);
  }
  return found;
}

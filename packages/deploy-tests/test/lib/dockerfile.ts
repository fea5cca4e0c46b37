/**
 * Just enough of the Dockerfile grammar to check ours: comments, line continuations,
 * parser directives, ARG defaults in FROM, instruction flags (--from=, --mount=...), and the
 * exec (JSON array) and shell forms of RUN/CMD/ENTRYPOINT/HEALTHCHECK.
 */

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY... */
  readonly keyword: string;
  /** `--name=value` flags before the arguments (`--mount` may repeat, so values are lists). */
  readonly flags: Readonly<Record<string, readonly string[]>>;
  /** The text after the keyword and its flags. */
  readonly rest: string;
  /** Set when `rest` is a JSON array of strings (exec form). */
  readonly exec: readonly string[] | undefined;
  /** 1-based line where the instruction starts. */
  readonly line: number;
}

export interface Stage {
  readonly name: string;
  /** The image (ARG defaults substituted) or the name of an earlier stage. */
  readonly from: string;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions = splitInstructions(text);
  const globalArgs: Record<string, string> = {};
  const stages: Array<{ name: string; from: string; instructions: Instruction[] }> = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [image, as, name] = ins.rest.split(/\s+/);
      if (image === undefined) throw new Error(`line ${ins.line}: FROM without an image`);
      const stageName =
        as?.toUpperCase() === 'AS' && name !== undefined ? name : String(stages.length);
      stages.push({ name: stageName, from: substitute(image, globalArgs), instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG')
        throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      const [name, value = ''] = splitOnce(ins.rest, '=');
      globalArgs[name] = value;
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

/** `${NAME}` and `$NAME` replaced from `vars`; unknown names are left as they are. */
export function substitute(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (whole, a?: string, b?: string) => {
      const name = a ?? b!;
      return Object.hasOwn(vars, name) ? vars[name]! : whole;
    },
  );
}

/** `KEY=value KEY2="a b"` pairs of an ENV or LABEL instruction (the legacy `ENV KEY value` too). */
export function parsePairs(rest: string): Record<string, string> {
  const out: Record<string, string> = {};
  const tokens = shellWords(rest);
  if (tokens.length > 0 && !tokens[0]!.includes('=')) {
    out[tokens[0]!] = tokens.slice(1).join(' ');
    return out;
  }
  for (const token of tokens) {
    const [key, value = ''] = splitOnce(token, '=');
    out[key] = value;
  }
  return out;
}

export function stage(file: Dockerfile, name: string): Stage {
  const found = file.stages.find((s) => s.name === name);
  if (!found)
    throw new Error(`no stage "${name}" (stages: ${file.stages.map((s) => s.name).join(', ')})`);
  return found;
}

export function instructionsOf(s: Stage, keyword: string): Instruction[] {
  return s.instructions.filter((i) => i.keyword === keyword);
}

/** The last instruction of a kind wins in Docker (CMD, USER, WORKDIR...). */
export function lastOf(s: Stage, keyword: string): Instruction | undefined {
  return instructionsOf(s, keyword).at(-1);
}

/** ENV of a stage, in order, later ones winning. */
export function envOf(s: Stage): Record<string, string> {
  return Object.assign({}, ...instructionsOf(s, 'ENV').map((i) => parsePairs(i.rest))) as Record<
    string,
    string
  >;
}

function splitInstructions(text: string): Instruction[] {
  const lines = text.split('\n');
  const out: Instruction[] = [];
  let buffer = '';
  let startLine = 0;
  let directivesOpen = true;
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (buffer === '' && trimmed.startsWith('#')) {
      // `# syntax=...` parser directives only count before any other line.
      if (!(directivesOpen && /^#\s*[a-z]+=/.test(trimmed))) directivesOpen = false;
      return;
    }
    if (buffer !== '' && trimmed.startsWith('#')) return; // comment inside a continuation
    if (trimmed === '' && buffer === '') return;
    directivesOpen = false;
    if (buffer === '') startLine = index + 1;
    if (trimmed.endsWith('\\')) {
      buffer += `${trimmed.slice(0, -1)} `;
      return;
    }
    buffer += trimmed;
    out.push(parseInstruction(buffer.trim(), startLine));
    buffer = '';
  });
  if (buffer !== '') out.push(parseInstruction(buffer.trim(), startLine));
  return out;
}

function parseInstruction(text: string, line: number): Instruction {
  const match = /^(\S+)\s*(.*)$/s.exec(text);
  if (!match) throw new Error(`line ${line}: cannot read "${text}"`);
  const keyword = match[1]!.toUpperCase();
  let rest = match[2]!;
  const flags: Record<string, string[]> = {};
  // HEALTHCHECK's flags come before CMD; RUN/COPY/ADD have their own.
  for (;;) {
    const flag = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
    if (!flag) break;
    (flags[flag[1]!] ??= []).push(flag[2] ?? 'true');
    rest = rest.slice(flag[0].length);
  }
  let exec: string[] | undefined;
  const body = keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/, '') : rest;
  if (body.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(body);
      if (Array.isArray(parsed) && parsed.every((p) => typeof p === 'string')) exec = parsed;
    } catch {
      exec = undefined;
    }
  }
  return { keyword, flags, rest, exec, line };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)];
}

function shellWords(text: string): string[] {
  const words: string[] = [];
  const pattern = /(?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+/g;
  for (const match of text.matchAll(pattern)) {
    words.push(
      match[0].replace(
        /"((?:[^"\\]|\\.)*)"|'([^']*)'/g,
        (_w, d?: string, s?: string) => d ?? s ?? '',
      ),
    );
  }
  return words;
}

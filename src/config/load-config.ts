import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { StartupRefused } from '../startup/startup-refused';
import { Config, configSchema } from './config-schema';

/** A configuration that does not validate: one line per bad key, each naming what is accepted. */
export class ConfigError extends StartupRefused {
  override name = 'ConfigError';
  constructor(lines: readonly string[]) {
    super(lines, 'invalid configuration, not started');
  }
}

type LeafKind = 'string' | 'number' | 'boolean' | 'array' | 'json';
type Tree = { [key: string]: unknown };

/** config/default.json of the installed package: found upwards from this file (dist/, or a benchmark build). */
function findDefaultConfig(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'config', 'default.json');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return path.join(__dirname, '..', '..', 'config', 'default.json');
  }
}

const defaultConfigFile = findDefaultConfig();

function unwrap(t: z.ZodTypeAny): z.ZodTypeAny {
  if (t instanceof z.ZodOptional || t instanceof z.ZodDefault || t instanceof z.ZodNullable) return unwrap(t._def.innerType);
  if (t instanceof z.ZodEffects) return unwrap(t._def.schema);
  return t;
}

/** Every leaf key of the schema with its kind, so each has an environment variable. */
function leaves(t: z.ZodTypeAny, prefix: string[] = []): Array<{ path: string[]; kind: LeafKind }> {
  const inner = unwrap(t);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodTypeAny>).flatMap(([k, v]) => leaves(v, [...prefix, k]));
  }
  const kind: LeafKind =
    inner instanceof z.ZodNumber
      ? 'number'
      : inner instanceof z.ZodBoolean
        ? 'boolean'
        : inner instanceof z.ZodArray
          ? unwrap(inner.element as z.ZodTypeAny) instanceof z.ZodObject
            ? 'json'
            : 'array'
          : inner instanceof z.ZodRecord
            ? 'json'
            : 'string';
  return [{ path: prefix, kind }];
}

/** `rotation.maxAge` → `JITBROKER_ROTATION_MAX_AGE`. */
export function envName(keyPath: readonly string[]): string {
  return 'JITBROKER_' + keyPath.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

const shortcuts: Record<string, string[]> = {
  JITBROKER_PORT: ['http', 'port'],
  JITBROKER_HOST: ['http', 'host'],
  LOG_LEVEL: ['log', 'level'],
};

function coerce(raw: string, kind: LeafKind): unknown {
  switch (kind) {
    case 'number':
      return raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    case 'array':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'json':
      // A map or list of settings (passwordByGroup, webhooks.endpoints) comes as JSON; what does not parse is left for the schema to refuse.
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}

function setPath(tree: Tree, keyPath: readonly string[], value: unknown): void {
  let node = tree;
  keyPath.slice(0, -1).forEach((k) => {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Tree;
  });
  node[keyPath[keyPath.length - 1] as string] = value;
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? merge(b as Tree, v as Tree) : v;
  }
  return out;
}

/** A config file: YAML when it is named .yaml/.yml, JSON otherwise; the top level must be an object. */
function readConfigFile(file: string, what: string): Tree {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${what} ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); accepted: a readable JSON or YAML file`]);
  }
  const yaml = /\.ya?ml$/i.test(file);
  try {
    // The YAML parser is loaded only for a YAML file: the embedded defaults and JSON files do not need it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const parsed: unknown = yaml ? (require('yaml') as typeof import('yaml')).parse(text) : JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Tree;
  } catch {
    throw new ConfigError([`${what} ${file}: is not a ${yaml ? 'YAML mapping' : 'JSON object'}; accepted: an object of config keys (see config/default.json)`]);
  }
}

function schemaAt(keyPath: readonly (string | number)[]): z.ZodTypeAny | undefined {
  let t: z.ZodTypeAny | undefined = configSchema;
  for (const k of keyPath) {
    const inner: z.ZodTypeAny | undefined = t ? unwrap(t) : undefined;
    if (inner instanceof z.ZodObject) t = (inner.shape as Record<string, z.ZodTypeAny>)[String(k)];
    else if (inner instanceof z.ZodArray) t = inner.element as z.ZodTypeAny;
    else return undefined;
  }
  return t;
}

/** The accepted form of a key, read off its schema so it never drifts from validation. */
function acceptedForm(keyPath: readonly (string | number)[]): string | undefined {
  const t = schemaAt(keyPath);
  if (!t) return undefined;
  const inner = unwrap(t);
  if (t.description) return t.description;
  if (inner instanceof z.ZodEnum) return `one of ${(inner.options as string[]).join(' | ')}`;
  if (inner instanceof z.ZodBoolean) return 'true or false';
  if (inner instanceof z.ZodNumber) return `${inner.isInt ? 'an integer' : 'a number'} from ${inner.minValue ?? '-∞'} to ${inner.maxValue ?? '∞'}`;
  if (inner instanceof z.ZodArray) {
    return unwrap(inner.element as z.ZodTypeAny) instanceof z.ZodObject
      ? 'a list of objects (JSON in an environment variable)'
      : 'a list (comma-separated in an environment variable)';
  }
  if (inner instanceof z.ZodRecord) return 'an object (JSON in an environment variable)';
  if (inner instanceof z.ZodString) return 'a non-empty string';
  if (inner instanceof z.ZodObject) return 'an object';
  return undefined;
}

function describeValue(tree: Tree, keyPath: readonly (string | number)[]): string {
  let v: unknown = tree;
  for (const k of keyPath) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  if (v === undefined) return '(missing)';
  // A store URL may carry a password: never repeated in an error message.
  if (typeof v === 'string' && keyPath.join('.') === 'store.url') return JSON.stringify(v.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*):[^/@]*@/i, '$1:***@'));
  return JSON.stringify(v);
}

/**
 * Loads the embedded defaults, then the `--config` file, then `JITBROKER_*` variables, and
 * validates the result. A bad value throws a ConfigError with one line per bad key.
 */
export function loadConfig(opts: { file?: string; env: NodeJS.ProcessEnv }): Config {
  const { env } = opts;
  let tree = readConfigFile(defaultConfigFile, 'default config');
  if (opts.file) tree = merge(tree, readConfigFile(opts.file, 'config file'));
  const sources = new Map<string, string>();
  for (const { path: keyPath, kind } of leaves(configSchema)) {
    const name = envName(keyPath);
    const raw = env[name];
    if (raw !== undefined) {
      setPath(tree, keyPath, coerce(raw, kind));
      sources.set(keyPath.join('.'), name);
    }
  }
  for (const [name, keyPath] of Object.entries(shortcuts)) {
    // LOG_LEVEL is a name other programs read too: the key's own JITBROKER_ variable wins over it.
    const raw = name.startsWith('JITBROKER_') || env[envName(keyPath)] === undefined ? env[name] : undefined;
    const kind = leaves(configSchema).find((l) => l.path.join('.') === keyPath.join('.'))?.kind ?? 'string';
    if (raw !== undefined) {
      setPath(tree, keyPath, coerce(raw, kind));
      sources.set(keyPath.join('.'), name);
    }
  }
  if (env.JITBROKER_DATA_DIR !== undefined) setPath(tree, ['dataDir'], env.JITBROKER_DATA_DIR);

  const result = configSchema.safeParse(tree);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = issue.path.join('.') || '(root)';
    // A value inside a map or list that came whole from one variable is still that variable's.
    const from = sources.get(key) ?? [...sources].find(([k]) => key.startsWith(`${k}.`))?.[1];
    const shown = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : describeValue(tree, issue.path);
    const what = issue.code === 'unrecognized_keys' ? `unknown key(s) ${shown}; accepted: only the keys in config/default.json and the README` : `${shown}: ${issue.message}`;
    const form = acceptedForm(issue.path);
    const hint = form && !what.includes('accepted:') ? `; accepted: ${form}` : '';
    return `config ${key}${from ? ` (from ${from})` : ''}: ${what}${hint}`;
  });
  throw new ConfigError(lines);
}

/**
 * Amazon EventBridge event-pattern matching, for the operators the alert catalogue and its extensions use.
 * CDK deploys each catalogue pattern as an `events.Rule` unchanged, and the sandbox evaluates the very same
 * JSON here, so the semantics follow EventBridge (aws/event-ruler) rather than anything more convenient:
 *
 * - A pattern is an object; every field in it must match (AND); a field's array lists alternatives (OR).
 * - Nested objects match nested objects. An event array matches if any element matches ("crushed out"
 *   arrays); a nested pattern must match within one array element (ruler's array consistency).
 * - Leaf alternatives: exact `"s"`, `5`, `true`, `null` (type-sensitive: `"5"` is not `5`); `prefix`,
 *   `suffix` (each also `{ "equals-ignore-case": … }`); `equals-ignore-case`; `wildcard` (`*`, `\*`, `\\`);
 *   `numeric` (JSON numbers only); `exists` (leaf fields only: an object-valued field does not "exist");
 *   `anything-but` (a value, a list of strings or of numbers, or `prefix` / `suffix` / `equals-ignore-case`
 *   / `wildcard`; an absent field never matches it).
 * - `"$or": [{…}, {…}]` (two or more objects) at any level: at least one must match.
 *
 * `cidr` is not supported: a pattern using it is rejected (EventPatternError) rather than silently
 * evaluated differently from EventBridge.
 */
export class EventPatternError extends Error {
  override readonly name = 'EventPatternError';
}

/** An EventBridge event pattern (the JSON that `events.Rule` takes as `eventPattern`). */
export type EventPattern = { readonly [field: string]: unknown };

/** A compiled pattern: true if the event (the full EventBridge envelope) matches. */
export type EventMatcher = (event: unknown) => boolean;

type ObjectTest = (value: unknown) => boolean;
type ValueTest = (value: Primitive) => boolean;
type Primitive = string | number | boolean | null;
type LeafMatcher = { kind: 'exists'; exists: boolean } | { kind: 'value'; test: ValueTest };

const OPERATORS = new Set([
  'prefix',
  'suffix',
  'equals-ignore-case',
  'wildcard',
  'numeric',
  'exists',
  'anything-but',
  'cidr',
]);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isPrimitive = (value: unknown): value is Primitive =>
  value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/** Validates a pattern and returns its matcher; throws EventPatternError naming the offending path. */
export function compileEventPattern(pattern: unknown): EventMatcher {
  if (!isPlainObject(pattern) || Object.keys(pattern).length === 0) {
    throw new EventPatternError('an event pattern must be a non-empty JSON object');
  }
  return compileObject(pattern, '');
}

/** True if `event` matches `pattern` (compiles the pattern on every call: use compileEventPattern to reuse). */
export const matchesEventPattern = (pattern: EventPattern, event: unknown): boolean =>
  compileEventPattern(pattern)(event);

function compileObject(pattern: Record<string, unknown>, path: string): ObjectTest {
  const tests = Object.entries(pattern).map(([field, spec]) => compileField(field, spec, path));
  return (value) => tests.every((test) => test(value));
}

function compileField(field: string, spec: unknown, path: string): ObjectTest {
  const here = path ? `${path}.${field}` : field;
  if (field === '$or' && isOrList(spec)) {
    const alternatives = spec.map((item, i) => compileObject(item, `${here}[${i}]`));
    return (value) => alternatives.some((alternative) => alternative(value));
  }
  if (Array.isArray(spec)) {
    const leaf = compileLeaf(spec, here);
    return (value) => leaf(leafValues(fieldOf(value, field)));
  }
  if (isPlainObject(spec)) {
    if (Object.keys(spec).length === 0)
      throw new EventPatternError(`${here}: a nested pattern must not be empty`);
    const nested = compileObject(spec, here);
    return (value) => matchNested(nested, fieldOf(value, field));
  }
  throw new EventPatternError(`${here}: pattern values must be arrays of alternatives or nested objects`);
}

/** `$or` is the OR primitive only for a list of 2+ objects with no operator names (otherwise a field name). */
function isOrList(spec: unknown): spec is Record<string, unknown>[] {
  return (
    Array.isArray(spec) &&
    spec.length >= 2 &&
    spec.every((item) => isPlainObject(item) && Object.keys(item).every((key) => !OPERATORS.has(key)))
  );
}

const fieldOf = (value: unknown, field: string): unknown =>
  isPlainObject(value) && Object.hasOwn(value, field) ? value[field] : undefined;

/** Leaf values of a field: primitives, with arrays flattened; objects are not leaves. */
function leafValues(value: unknown): Primitive[] {
  if (value === undefined || isPlainObject(value)) return [];
  if (Array.isArray(value)) return value.flatMap(leafValues);
  return isPrimitive(value) ? [value] : [];
}

/** A nested pattern matches an object, or any one object element of an array (never across elements). */
function matchNested(nested: ObjectTest, value: unknown): boolean {
  if (Array.isArray(value)) {
    const objects = value.flat(Number.POSITIVE_INFINITY).filter(isPlainObject);
    return objects.length === 0 ? nested(undefined) : objects.some(nested);
  }
  return nested(isPlainObject(value) ? value : undefined);
}

function compileLeaf(alternatives: unknown[], path: string): (values: Primitive[]) => boolean {
  if (alternatives.length === 0) throw new EventPatternError(`${path}: an empty list matches nothing`);
  const matchers = alternatives.map((item, i) => compileMatcher(item, `${path}[${i}]`));
  return (values) =>
    matchers.some((matcher) =>
      matcher.kind === 'exists'
        ? matcher.exists === values.length > 0
        : values.some((value) => matcher.test(value)),
    );
}

function compileMatcher(item: unknown, path: string): LeafMatcher {
  if (isPrimitive(item)) return { kind: 'value', test: (value) => value === item };
  if (!isPlainObject(item))
    throw new EventPatternError(`${path}: alternatives are values or operator objects`);
  const keys = Object.keys(item);
  if (keys.length !== 1)
    throw new EventPatternError(`${path}: an operator object holds exactly one operator`);
  const operator = keys[0]!;
  const operand = item[operator];
  const at = `${path}.${operator}`;
  switch (operator) {
    case 'exists':
      if (typeof operand !== 'boolean') throw new EventPatternError(`${at}: must be true or false`);
      return { kind: 'exists', exists: operand };
    case 'prefix':
    case 'suffix':
      return { kind: 'value', test: stringTest(affixTest(operator, operand, at)) };
    case 'equals-ignore-case':
      return { kind: 'value', test: stringTest(ignoreCaseTest(operand, at)) };
    case 'wildcard':
      return { kind: 'value', test: stringTest(wildcardTest(operand, at)) };
    case 'numeric':
      return { kind: 'value', test: numericTest(operand, at) };
    case 'anything-but':
      return { kind: 'value', test: anythingButTest(operand, at) };
    case 'cidr':
      throw new EventPatternError(`${at}: cidr matching is not supported by this matcher`);
    default:
      throw new EventPatternError(`${path}: unknown operator ${JSON.stringify(operator)}`);
  }
}

/** String operators never match numbers, booleans or null. */
const stringTest =
  (test: (value: string) => boolean): ValueTest =>
  (value) =>
    typeof value === 'string' && test(value);

const fold = (text: string) => text.toLowerCase();

function requireString(operand: unknown, at: string): string {
  if (typeof operand !== 'string') throw new EventPatternError(`${at}: must be a string`);
  return operand;
}

function affixTest(operator: 'prefix' | 'suffix', operand: unknown, at: string): (value: string) => boolean {
  const edge = (text: string, affix: string) =>
    operator === 'prefix' ? text.startsWith(affix) : text.endsWith(affix);
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    if (keys.length !== 1 || keys[0] !== 'equals-ignore-case') {
      throw new EventPatternError(`${at}: takes a string or { "equals-ignore-case": string }`);
    }
    const affix = fold(requireString(operand['equals-ignore-case'], `${at}.equals-ignore-case`));
    return (value) => edge(fold(value), affix);
  }
  const affix = requireString(operand, at);
  return (value) => edge(value, affix);
}

function ignoreCaseTest(operand: unknown, at: string): (value: string) => boolean {
  const expected = fold(requireString(operand, at));
  return (value) => fold(value) === expected;
}

/** Ruler wildcards: `*` is any run of characters, `\*` a literal star, `\\` a backslash; `**` is invalid. */
function wildcardTest(operand: unknown, at: string): (value: string) => boolean {
  const pattern = requireString(operand, at);
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '\\') {
      const next = pattern[i + 1];
      if (next !== '*' && next !== '\\')
        throw new EventPatternError(`${at}: a backslash may only escape * or \\`);
      source += `\\${next}`;
      i++;
    } else if (char === '*') {
      if (pattern[i + 1] === '*')
        throw new EventPatternError(`${at}: consecutive wildcard characters are not allowed`);
      source += '.*';
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  const regex = new RegExp(`^${source}$`, 's');
  return (value) => regex.test(value);
}

const COMPARATORS: Record<string, (a: number, b: number) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '=': (a, b) => a === b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

/** `[op, n]` or `[lower-op, n, upper-op, m]`; only JSON numbers in the event match. */
function numericTest(operand: unknown, at: string): ValueTest {
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) {
    throw new EventPatternError(`${at}: must be [operator, number] or [operator, number, operator, number]`);
  }
  const conditions: ((value: number) => boolean)[] = [];
  for (let i = 0; i < operand.length; i += 2) {
    const operator = operand[i];
    const bound = operand[i + 1];
    const compare = typeof operator === 'string' ? COMPARATORS[operator] : undefined;
    if (!compare) throw new EventPatternError(`${at}: unknown comparison ${JSON.stringify(operator)}`);
    if (typeof bound !== 'number' || !Number.isFinite(bound))
      throw new EventPatternError(`${at}: bounds must be numbers`);
    conditions.push((value) => compare(value, bound));
  }
  return (value) => typeof value === 'number' && conditions.every((condition) => condition(value));
}

/**
 * Negations apply to present values only (an absent field does not match). A value of another type than
 * the operand is "anything but" it (ruler compares JSON representations), so `5` matches
 * `{"anything-but": {"prefix": "a"}}`.
 */
function anythingButTest(operand: unknown, at: string): ValueTest {
  if (typeof operand === 'string' || typeof operand === 'number') return (value) => value !== operand;
  if (Array.isArray(operand)) {
    const strings = operand.every((item) => typeof item === 'string');
    const numbers = operand.every((item) => typeof item === 'number');
    if (operand.length === 0 || !(strings || numbers)) {
      throw new EventPatternError(`${at}: a list must hold only strings or only numbers`);
    }
    const excluded = new Set<unknown>(operand);
    return (value) => !excluded.has(value);
  }
  if (!isPlainObject(operand) || Object.keys(operand).length !== 1) {
    throw new EventPatternError(
      `${at}: takes a value, a list, or one of prefix, suffix, equals-ignore-case, wildcard`,
    );
  }
  const [operator, inner] = Object.entries(operand)[0]!;
  const innerAt = `${at}.${operator}`;
  let excluded: (value: string) => boolean;
  if (operator === 'prefix' || operator === 'suffix')
    excluded = affixTest(operator, requireString(inner, innerAt), innerAt);
  else if (operator === 'equals-ignore-case') excluded = anyOf(inner, innerAt, ignoreCaseTest);
  else if (operator === 'wildcard') excluded = anyOf(inner, innerAt, wildcardTest);
  else throw new EventPatternError(`${at}: anything-but does not take ${JSON.stringify(operator)}`);
  return (value) => typeof value !== 'string' || !excluded(value);
}

function anyOf(
  operand: unknown,
  at: string,
  make: (operand: unknown, at: string) => (value: string) => boolean,
): (value: string) => boolean {
  const list = Array.isArray(operand) ? operand : [operand];
  if (list.length === 0) throw new EventPatternError(`${at}: the list must not be empty`);
  const tests = list.map((item, i) => make(item, `${at}[${i}]`));
  return (value) => tests.some((test) => test(value));
}

/**
 * A small schema builder: each value is both an OpenAPI v3 structural schema (what the CRD YAML holds)
 * and, through `Infer`, the TypeScript type of the data it accepts. The CRDs and the operator's types
 * therefore come from one definition and cannot drift.
 */

/** The subset of JSONSchemaProps (apiextensions.k8s.io/v1) that the CRDs use. */
export interface JsonSchema {
  type?: "object" | "array" | "string" | "integer" | "boolean";
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema;
  enum?: string[];
  default?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  minimum?: number;
  maximum?: number;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-validations"?: CelRule[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
}

/** A CEL validation rule (x-kubernetes-validations). */
export interface CelRule {
  rule: string;
  message: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** A schema carrying its TypeScript type `T` (phantom). */
export interface Schema<T> {
  readonly json: JsonSchema;
  /** Never set: carries the type only. */
  readonly __type?: T;
  readonly optional: boolean;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Common = Pick<JsonSchema, "description" | "x-kubernetes-validations">;

function schema<T>(json: JsonSchema): Schema<T> {
  return { json: clean(json), optional: false };
}

function clean(json: JsonSchema): JsonSchema {
  return Object.fromEntries(Object.entries(json).filter(([, v]) => v !== undefined)) as JsonSchema;
}

/** Marks a property as optional (absent from `required`, `?` in the type). */
export function optional<T>(s: Schema<T>): Schema<T | undefined> {
  return { json: s.json, optional: true };
}

export function string(
  opts: Common & Pick<JsonSchema, "pattern" | "format" | "minLength" | "maxLength" | "default"> = {},
): Schema<string> {
  return schema({ type: "string", ...opts });
}

export function enumOf<const V extends readonly string[]>(
  values: V,
  opts: Common & { default?: V[number] } = {},
): Schema<V[number]> {
  return schema({ type: "string", enum: [...values], ...opts });
}

export function integer(
  opts: Common & Pick<JsonSchema, "minimum" | "maximum" | "default" | "format"> = {},
): Schema<number> {
  return schema({ type: "integer", ...opts });
}

export function boolean(opts: Common & { default?: boolean } = {}): Schema<boolean> {
  return schema({ type: "boolean", ...opts });
}

export function array<T>(
  items: Schema<T>,
  opts: Common &
    Pick<JsonSchema, "minItems" | "maxItems" | "x-kubernetes-list-type" | "x-kubernetes-list-map-keys"> = {},
): Schema<T[]> {
  return schema({ type: "array", items: items.json, ...opts });
}

/** A map with string keys (additionalProperties). */
export function map<T>(
  values: Schema<T>,
  opts: Common & Pick<JsonSchema, "maxProperties"> = {},
): Schema<Record<string, T>> {
  return schema({ type: "object", additionalProperties: values.json, ...opts });
}

/** Any JSON value, kept as given (free-form metadata). */
export function anyJson(opts: Common = {}): Schema<unknown> {
  return schema({ "x-kubernetes-preserve-unknown-fields": true, ...opts });
}

type Props = Record<string, Schema<unknown>>;
type OptionalKeys<P extends Props> = {
  [K in keyof P]: P[K] extends Schema<infer T> ? (undefined extends T ? K : never) : never;
}[keyof P];
type RequiredKeys<P extends Props> = Exclude<keyof P, OptionalKeys<P>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<P extends Props> = Simplify<
  { [K in RequiredKeys<P>]: Infer<P[K]> } & { [K in OptionalKeys<P>]?: Exclude<Infer<P[K]>, undefined> }
>;

export function object<P extends Props>(
  props: P,
  opts: Common & Pick<JsonSchema, "x-kubernetes-preserve-unknown-fields"> = {},
): Schema<ObjectOf<P>> {
  const required = Object.entries(props)
    .filter(([, s]) => !s.optional)
    .map(([k]) => k);
  return schema({
    type: "object",
    properties: Object.fromEntries(Object.entries(props).map(([k, s]) => [k, s.json])),
    required: required.length ? required : undefined,
    ...opts,
  });
}

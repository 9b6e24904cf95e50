// Validation of untrusted input with zod, turned into 4xx answers that name every bad field.
import type { z } from "zod";
import { HttpError } from "./errors.ts";

/** A uuid as Postgres reads one (any version): what ids in tokens must look like before a `::uuid` cast. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One field-level problem: the dotted path of the field and what is wrong with it. */
export type FieldError = { path: string; message: string };

/** Lists zod issues as field errors. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(root)",
    message: issue.message,
  }));
}

/** Parses `value` with `schema`, throwing a 422 HttpError that lists every invalid field. */
export function parseOr422<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const errors = fieldErrors(parsed.error);
  throw new HttpError(
    422,
    "validation_failed",
    `Invalid ${what}: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
    errors,
  );
}

// What the messaging webhook receivers share: the supplier of the URL.
import { z } from "zod";
import { HttpError } from "../../http/errors.ts";

const uuid = z.uuid();

/** The `supplier` query parameter of a webhook URL; 400 when it is not a uuid. */
export function supplierParam(query: URLSearchParams): string {
  const parsed = uuid.safeParse(query.get("supplier"));
  if (!parsed.success) {
    throw new HttpError(400, "invalid_supplier", "Query parameter supplier must be the supplier's uuid");
  }
  return parsed.data;
}

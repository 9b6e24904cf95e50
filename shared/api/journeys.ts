// Request and response schemas of the `journeys` function, exported for the vendor's app (zod).
import { z } from "zod";
import { stepTiming } from "../modules/timing.ts";

const reason = z.string().trim().min(1).max(500).optional();

/** `update_step`: a new config (validated against the step's module type) and/or timing. */
export const updateStepRequest = z.strictObject({
  action: z.literal("update_step"),
  step_id: z.uuid(),
  config: z.record(z.string(), z.unknown()).optional(),
  timing: stepTiming.optional(),
}).refine((b) => b.config !== undefined || b.timing !== undefined, {
  path: ["config"],
  message: "give config, timing or both",
});

/** `delete_step`: pending, held and waiting runs of the step are cancelled with `reason`. */
export const deleteStepRequest = z.strictObject({
  action: z.literal("delete_step"),
  step_id: z.uuid(),
  reason,
});

/** `reorder_steps`: every step of the journey, once each, in the new order. */
export const reorderStepsRequest = z.strictObject({
  action: z.literal("reorder_steps"),
  journey_id: z.uuid(),
  step_ids: z.array(z.uuid()).min(1).max(1000),
});

/** `pause` / `resume` / `cancel` a couple's journey instance. */
export const pauseRequest = z.strictObject({ action: z.literal("pause"), instance_id: z.uuid(), reason });
export const resumeRequest = z.strictObject({ action: z.literal("resume"), instance_id: z.uuid() });
export const cancelRequest = z.strictObject({ action: z.literal("cancel"), instance_id: z.uuid(), reason });

/** `cancel_booking`: the couple's booking is cancelled: every active or paused journey of theirs ends. */
export const cancelBookingRequest = z.strictObject({
  action: z.literal("cancel_booking"),
  client_id: z.uuid(),
  reason,
});

/** `dry_run`: what the journey would send the couple, when and in which zone; nothing is written. */
export const dryRunRequest = z.strictObject({
  action: z.literal("dry_run"),
  journey_id: z.uuid(),
  client_id: z.uuid(),
  /** When the journey would start (ISO 8601 with offset); now by default. */
  start_at: z.iso.datetime({ offset: true }).optional(),
});

/** Every request the `journeys` function takes (POST, JSON). */
export const journeysRequest = z.union([
  updateStepRequest,
  deleteStepRequest,
  reorderStepsRequest,
  pauseRequest,
  resumeRequest,
  cancelRequest,
  cancelBookingRequest,
  dryRunRequest,
]);
/** A request to the `journeys` function. */
export type JourneysRequest = z.input<typeof journeysRequest>;

/** The schemas one by one, for the fuzz suite's generators. */
export const JOURNEYS_REQUESTS = [
  updateStepRequest,
  deleteStepRequest,
  reorderStepsRequest,
  pauseRequest,
  resumeRequest,
  cancelRequest,
  cancelBookingRequest,
  dryRunRequest,
];

const step = z.object({
  id: z.uuid(),
  journey_id: z.uuid(),
  position: z.number().int(),
  module_type: z.string(),
  config: z.record(z.string(), z.unknown()),
  timing: z.record(z.string(), z.unknown()),
});

/** Answer to `update_step`. */
export const updateStepResponse = z.object({
  step,
  /** Pending or held runs of the step given a new time. */
  replanned_runs: z.number().int(),
  /** Of those, runs whose new time had passed with `if_past: "skip"`. */
  skipped_runs: z.number().int(),
});
/** Answer to `delete_step`. */
export const deleteStepResponse = z.object({
  deleted_step_id: z.uuid(),
  cancelled_runs: z.number().int(),
  /** Journeys that were on the step, moved to the next one (or completed). */
  moved_instances: z.number().int(),
});
/** Answer to `reorder_steps`. */
export const reorderStepsResponse = z.object({
  journey_id: z.uuid(),
  steps: z.array(z.object({ id: z.uuid(), position: z.number().int(), module_type: z.string() })),
});
/** Answer to `pause`. */
export const pauseResponse = z.object({
  instance_id: z.uuid(),
  status: z.literal("paused"),
  held_runs: z.number().int(),
});
/** Answer to `resume`. */
export const resumeResponse = z.object({
  instance_id: z.uuid(),
  status: z.enum(["active", "completed"]),
  released_runs: z.number().int(),
  skipped_runs: z.number().int(),
});
/** Answer to `cancel`. */
export const cancelResponse = z.object({
  instance_id: z.uuid(),
  status: z.literal("cancelled"),
  cancelled_runs: z.number().int(),
});
/** Answer to `cancel_booking`. */
export const cancelBookingResponse = z.object({
  cancelled_instances: z.number().int(),
  cancelled_runs: z.number().int(),
});
/** One step of a dry run. */
export const dryRunStep = z.object({
  step_id: z.uuid(),
  position: z.number().int(),
  module_type: z.string(),
  would_send: z.boolean(),
  /** Why the step would not run (e.g. the couple has no wedding date, its time passed with if_past skip). */
  skip_reason: z.string().nullable(),
  /** The instant (UTC, ISO 8601) it would go out. */
  send_at: z.string().nullable(),
  /** The zone its time is read in: the couple's (the vendor's for business hours). */
  time_zone: z.string(),
  /** `send_at` on the wall clock of `time_zone`, "YYYY-MM-DDTHH:MM". */
  local_time: z.string().nullable(),
  /** The rules that shaped the time (anchor, wedding-week cap, wedding day, business or quiet hours). */
  rules: z.array(z.string()),
});
/** Answer to `dry_run`. */
export const dryRunResponse = z.object({
  journey_id: z.uuid(),
  client_id: z.uuid(),
  start_at: z.string(),
  time_zone: z.string(),
  steps: z.array(dryRunStep),
});

/**
 * `mappings/<entity>.yaml`: one canonical entity, its fields and types, how each source's columns map onto
 * them, the survivorship rule of each field, and how each destination names them.
 */
import { z } from "zod";
import { TRANSFORM_NAMES } from "../engine/transforms.ts";

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected a name of letters, digits and underscores");

export const FIELD_TYPES = ["string", "email", "integer", "decimal", "boolean", "date", "datetime"] as const;

const rule = z.union([
  z.literal("latest").describe("Last write wins, by the source's timestamp (or the time Ferry observed it)."),
  z.literal("flag").describe("Disagreement between sources opens a conflict for an operator."),
  z.strictObject({ owner: identifier.describe("The system of record for this field.") }),
  z.strictObject({
    priority: z
      .array(identifier)
      .min(1)
      .describe("Sources in order of trust; the first non-empty value wins."),
  }),
]);

const field = z.strictObject({
  type: z
    .enum(FIELD_TYPES)
    .describe("Canonical type; source values are converted and rejected if they do not fit."),
  required: z
    .boolean()
    .default(false)
    .describe("Reject a record from a source that maps this field but leaves it empty."),
  rule: rule.optional().describe("Survivorship rule (default: latest). Not allowed on the key."),
});

const transformStep = z.union([
  z.enum(TRANSFORM_NAMES),
  z.strictObject({ date: z.string().describe("Input pattern, e.g. DD.MM.YYYY or MM/DD/YYYY") }),
  z.strictObject({
    lookup: z.record(z.string(), z.string()).describe("Replace a value by another; unknown values pass."),
  }),
  z.strictObject({ default: z.string().describe("Value used when the input is empty.") }),
]);

const columnRef = z.string().min(1).describe("A column (SQL) or header (CSV) of the source.");

const fieldSource = z.union([
  columnRef,
  z.strictObject({
    from: z.union([columnRef, z.array(columnRef).min(1)]),
    transform: z.union([transformStep, z.array(transformStep)]).optional(),
  }),
]);

const destination = z.strictObject({
  object: z.string().min(1).describe("The destination's object, e.g. contacts or companies for HubSpot."),
  match: z
    .strictObject({ property: z.string().min(1) })
    .describe(
      "A unique property in the destination holding the entity's key; used to find records before creating.",
    ),
  fields: z.record(identifier, z.string().min(1)).describe("Canonical field -> destination property."),
  archive_property: z
    .strictObject({ property: z.string().min(1), value: z.string() })
    .optional()
    .describe("With the job delete policy `archive`: the property set on a record deleted at its source."),
});

export const mappingSchema = z
  .strictObject({
    entity: identifier.describe("Name of the canonical entity, e.g. customer."),
    key: identifier.describe("The field that identifies a record across all systems."),
    fields: z
      .record(identifier, field)
      .refine((f) => Object.keys(f).length > 0, "declare at least one field"),
    sources: z
      .record(identifier, z.record(identifier, fieldSource))
      .describe("Per source: canonical field -> column."),
    destinations: z.record(identifier, destination).default({}),
  })
  .superRefine((m, ctx) => {
    const fields = Object.keys(m.fields);
    if (!m.fields[m.key]) {
      ctx.addIssue({
        code: "custom",
        path: ["key"],
        message: `the key "${m.key}" is not one of the fields: ${fields.join(", ")}`,
      });
    } else if (m.fields[m.key]?.rule) {
      ctx.addIssue({
        code: "custom",
        path: ["fields", m.key, "rule"],
        message: "the key field takes no rule",
      });
    }
    const sourceNames = Object.keys(m.sources);
    for (const [name, f] of Object.entries(m.fields)) {
      const r = f.rule;
      const named = r && typeof r === "object" ? ("owner" in r ? [r.owner] : r.priority) : [];
      for (const s of named) {
        if (!m.sources[s]) {
          ctx.addIssue({
            code: "custom",
            path: ["fields", name, "rule"],
            message: `unknown source "${s}": the sources are ${sourceNames.join(", ") || "(none)"}`,
          });
        }
      }
    }
    for (const [sourceName, columns] of Object.entries(m.sources)) {
      if (!columns[m.key]) {
        ctx.addIssue({
          code: "custom",
          path: ["sources", sourceName],
          message: `source "${sourceName}" must map the key field "${m.key}"`,
        });
      }
      for (const f of Object.keys(columns)) {
        if (!m.fields[f]) {
          ctx.addIssue({
            code: "custom",
            path: ["sources", sourceName, f],
            message: `"${f}" is not a field of ${m.entity}: declare it under fields, or remove it`,
          });
        }
        const r = m.fields[f]?.rule;
        if (r && typeof r === "object" && "priority" in r && !r.priority.includes(sourceName)) {
          ctx.addIssue({
            code: "custom",
            path: ["sources", sourceName, f],
            message: `field "${f}" has a priority rule that does not rank source "${sourceName}": add it to the list`,
          });
        }
      }
    }
    for (const [destName, d] of Object.entries(m.destinations)) {
      for (const f of Object.keys(d.fields)) {
        if (!m.fields[f]) {
          ctx.addIssue({
            code: "custom",
            path: ["destinations", destName, "fields", f],
            message: `"${f}" is not a field of ${m.entity}`,
          });
        }
      }
      if (!d.fields[m.key]) {
        ctx.addIssue({
          code: "custom",
          path: ["destinations", destName, "fields"],
          message: `map the key field "${m.key}" to the match property "${d.match.property}"`,
        });
      } else if (d.fields[m.key] !== d.match.property) {
        ctx.addIssue({
          code: "custom",
          path: ["destinations", destName, "match", "property"],
          message: `the match property must be the one the key field "${m.key}" maps to ("${d.fields[m.key]}")`,
        });
      }
    }
  });

export type MappingConfig = z.output<typeof mappingSchema>;
export type FieldConfig = z.output<typeof field>;
export type FieldType = (typeof FIELD_TYPES)[number];
export type RuleConfig = z.output<typeof rule>;
export type TransformStep = z.output<typeof transformStep>;
export type FieldSourceConfig = z.output<typeof fieldSource>;
export type DestinationMapping = z.output<typeof destination>;

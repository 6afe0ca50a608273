import { z } from "zod";

/** A database connection, declared once in ferry.yaml under `connections:` and named by jobs. */
export const sqlConnectionSchema = z.discriminatedUnion("dialect", [
  z.strictObject({
    dialect: z.literal("sqlite"),
    path: z
      .string()
      .min(1)
      .describe("Path of the SQLite database file, relative to ferry.yaml. Opened read-only."),
  }),
]);

export const sqlSourceSchema = z.strictObject({
  type: z.literal("sql"),
  connection: z.string().min(1).describe("Name of a connection in ferry.yaml."),
  query: z
    .string()
    .min(1)
    .describe("One SELECT or WITH statement. Ferry pages through it by key (snapshot) or by cursor and key."),
});

export type SqlConnection = z.output<typeof sqlConnectionSchema>;
export type SqlSourceConfig = z.output<typeof sqlSourceSchema>;

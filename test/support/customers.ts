/**
 * Small, deterministic customer data for integration tests: a legacy ERP table, the `customer` mapping
 * onto HubSpot contacts, typical jobs, and CSV text for a second source.
 */
import type { HubSpotObject } from "../../fixtures/hubspot-emulator/emulator.ts";
import type { LegacyRow, LegacyTable } from "./project.ts";

export const CUSTOMER_COLUMNS = [
  "CUST_ID",
  "FIRST_NM",
  "LAST_NM",
  "EMAIL",
  "PHONE",
  "SEGMENT_CD",
  "UPDATED_AT",
] as const;

export const custId = (i: number) => `C${String(i).padStart(4, "0")}`;

/** `UPDATED_AT` of customer i: one hour apart from 2024-01-01 00:00:00, legacy layout (space, no zone). */
export const updatedAt = (i: number) =>
  new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString().replace("T", " ").slice(0, 19);

export function customer(i: number, overrides: LegacyRow = {}): LegacyRow {
  return {
    CUST_ID: custId(i),
    FIRST_NM: `First${i}`,
    LAST_NM: `Last${i}`,
    EMAIL: `customer${i}@erp.example`,
    PHONE: `+49 30 ${1_000_000 + i}`,
    SEGMENT_CD: ["R", "W", "G"][i % 3]!,
    UPDATED_AT: updatedAt(i),
    ...overrides,
  };
}

export function customers(count: number, from = 1): LegacyRow[] {
  return Array.from({ length: count }, (_, n) => customer(from + n));
}

export function customerTable(
  rows: readonly LegacyRow[],
  primaryKey: string | null = "CUST_ID",
): LegacyTable {
  return { columns: CUSTOMER_COLUMNS, rows, ...(primaryKey ? { primaryKey } : {}) };
}

/** The `customer` mapping: `erp` (SQL) always, `field_team` (CSV: customer, email, phone, first name) on demand. */
export function customerMapping(options: { fieldTeam?: boolean; erpColumns?: Record<string, unknown> } = {}) {
  const fieldTeam = options.fieldTeam ?? false;
  return {
    entity: "customer",
    key: "customer_no",
    fields: {
      customer_no: { type: "string" },
      first_name: { type: "string", rule: { owner: "erp" } },
      last_name: { type: "string", rule: { owner: "erp" } },
      email: { type: "email", rule: { priority: fieldTeam ? ["field_team", "erp"] : ["erp"] } },
      phone: { type: "string", rule: "flag" },
      segment: { type: "string", rule: "latest" },
    },
    sources: {
      erp: {
        customer_no: "CUST_ID",
        first_name: { from: "FIRST_NM", transform: "collapse_spaces" },
        last_name: "LAST_NM",
        email: { from: "EMAIL", transform: "trim" },
        phone: { from: "PHONE", transform: "trim" },
        segment: {
          from: "SEGMENT_CD",
          transform: { lookup: { R: "retail", W: "wholesale", G: "government" } },
        },
        ...options.erpColumns,
      },
      ...(fieldTeam
        ? {
            field_team: {
              customer_no: "Customer #",
              first_name: "First name",
              email: { from: "E-mail", transform: "trim" },
              phone: { from: "Phone", transform: "trim" },
            },
          }
        : {}),
    },
    destinations: {
      hubspot: {
        object: "contacts",
        match: { property: "customer_no" },
        fields: {
          customer_no: "customer_no",
          first_name: "firstname",
          last_name: "lastname",
          email: "email",
          phone: "phone",
          segment: "segment",
        },
      },
    },
  };
}

export const ERP_QUERY =
  "SELECT CUST_ID, FIRST_NM, LAST_NM, EMAIL, PHONE, SEGMENT_CD, UPDATED_AT FROM CUSTOMERS";

/** A snapshot job over the legacy CUSTOMERS table. */
export function erpSnapshotJob(overrides: Record<string, unknown> = {}) {
  return {
    source: { type: "sql", connection: "legacy", query: ERP_QUERY },
    mapping: "customer",
    as: "erp",
    mode: "snapshot",
    source_time: "UPDATED_AT",
    batch_size: 50,
    deletes: { policy: "propagate" },
    ...overrides,
  };
}

/** A snapshot job over the field team's CSV. */
export function fieldTeamJob(file = "field-team.csv", overrides: Record<string, unknown> = {}) {
  return {
    source: { type: "csv", path: file },
    mapping: "customer",
    as: "field_team",
    mode: "snapshot",
    batch_size: 50,
    deletes: { policy: "ignore" },
    ...overrides,
  };
}

export interface FieldTeamRow {
  id: string;
  first?: string;
  email?: string;
  phone?: string;
}

export function fieldTeamCsv(rows: readonly (FieldTeamRow | string)[]): string {
  const lines = ["Customer #,First name,E-mail,Phone"];
  for (const r of rows) {
    lines.push(
      typeof r === "string"
        ? r
        : [r.id, r.first ?? "", r.email ?? "", r.phone ? `"${r.phone}"` : ""].join(","),
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** customer_no -> record, failing on a duplicate: the emulator must hold each customer once. */
export function byCustomerNo(records: readonly HubSpotObject[]): Map<string, HubSpotObject> {
  const out = new Map<string, HubSpotObject>();
  for (const r of records) {
    const no = r.properties.customer_no;
    if (typeof no !== "string") throw new Error(`HubSpot record ${r.id} has no customer_no`);
    if (out.has(no))
      throw new Error(`customer_no ${no} is in HubSpot twice (records ${out.get(no)!.id} and ${r.id})`);
    out.set(no, r);
  }
  return out;
}

import { z } from "zod";
import { durationSchema as duration } from "../../config/duration.ts";
import { secretRef } from "../../config/secrets.ts";
import { eachFileSchema } from "../../files/each-file.ts";
import { fileFormatSchema } from "../../files/records.ts";

/**
 * How to reach and log in to an SFTP server: the fields the `sftp` source shares with the `file`
 * destination's SFTP target, checked by `checkSftpLogin`.
 */
export const sftpLoginFields = {
  host: z.string().min(1).describe("The SFTP server."),
  port: z.number().int().min(1).max(65_535).default(22),
  username: z.string().min(1),
  password: secretRef.optional(),
  private_key: secretRef.optional().describe("An OpenSSH or PEM private key: ${file:keys/id_ed25519}."),
  passphrase: secretRef.optional().describe("The private key's passphrase, if it has one."),
  host_key: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, "expected the server's key fingerprint as ssh-keygen -lf prints it: SHA256:... (43 characters)")
    .optional()
    .describe("The server's host key fingerprint, pinned: a server presenting another key is refused. Get it with ssh-keyscan HOST | ssh-keygen -lf -"),
  insecure_accept_any_host_key: z
    .literal(true)
    .optional()
    .describe("Connect without checking the server's identity. Logged as a warning on every run; only for a first test."),
};

export const sftpConnectTimeout = duration("Give up connecting after this long.", "20s");

interface SftpLogin {
  password?: string | undefined;
  private_key?: string | undefined;
  host_key?: string | undefined;
  insecure_accept_any_host_key?: true | undefined;
}

/** A password or a key, and a pinned host key unless explicitly opted out (not both). */
export function checkSftpLogin(c: SftpLogin, ctx: z.RefinementCtx): void {
  if (!c.password && !c.private_key) {
    ctx.addIssue({ code: "custom", path: ["password"], message: "give password or private_key (as ${env:NAME} or ${file:path})" });
  }
  if (!c.host_key && !c.insecure_accept_any_host_key) {
    ctx.addIssue({
      code: "custom",
      path: ["host_key"],
      message:
        "pin the server's host key (host_key: SHA256:..., from ssh-keyscan HOST | ssh-keygen -lf -), or set insecure_accept_any_host_key: true",
    });
  }
  if (c.host_key && c.insecure_accept_any_host_key) {
    ctx.addIssue({ code: "custom", path: ["insecure_accept_any_host_key"], message: "host_key is pinned: remove insecure_accept_any_host_key" });
  }
}

export const sftpSourceSchema = z
  .strictObject({
    type: z.literal("sftp"),
    ...sftpLoginFields,
    folder: z.string().min(1).describe("The remote folder holding the files, e.g. /exports/customers."),
    pattern: z.string().min(1).default("*").describe("Which file names to take: * any characters, ? one."),
    stable_for: duration(
      "A remote file is taken only when its size and time are the same in two listings this far apart.",
      "2s",
    ),
    after: z
      .union([
        z.strictObject({ action: z.literal("move"), to: z.string().min(1).describe("A remote folder; created if missing.") }),
        z.strictObject({ action: z.literal("delete") }),
        z.strictObject({ action: z.literal("leave") }),
      ])
      .default({ action: "leave" })
      .describe("What to do on the server with a file once it is applied (or recognised as a duplicate). A file that failed is left."),
    connect_timeout: sftpConnectTimeout,
    transfer_timeout: duration("A download that receives nothing for this long fails; the next run retries the file.", "60s"),
    max_file_bytes: z.number().int().min(1).default(1024 * 1024 * 1024).describe("A larger remote file is not downloaded."),
    format: fileFormatSchema,
    each_file: eachFileSchema,
  })
  .superRefine(checkSftpLogin);

export type SftpSourceConfig = z.output<typeof sftpSourceSchema>;

/**
 * The rule every test that needs a service follows: skipped with the reason when the service is missing,
 * except under `FERRY_REQUIRE_SERVICES=1` (CI), where the test runs and fails with that reason.
 */

/** Whether CI demands every service: a missing one fails the test instead of skipping it. */
export const servicesRequired = process.env.FERRY_REQUIRE_SERVICES === "1";

/** A `skip` option from why a service is missing (null: it is there). */
export function skipUnlessRequired(reason: string | null): string | false {
  return reason !== null && !servicesRequired ? reason : false;
}

/** Throws the reason a service is missing, saying so when CI required it. */
export function assertAvailable(reason: string | null): void {
  if (reason !== null) throw new Error(servicesRequired ? `FERRY_REQUIRE_SERVICES=1: ${reason}` : reason);
}

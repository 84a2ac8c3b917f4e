// A small typed client of the platform, as the SPA and partners write theirs: every call is typed
// from the service's own OpenAPI document (generated/*.ts, by openapi-typescript), and errors are
// problem+json documents. tests/test_typescript_contract.py type-checks it against the documents
// the code serves now, so a breaking change to a path, a field or an error shape fails CI.

import type { components as RecruitmentComponents, paths as Recruitment } from "./generated/recruitment";
import type { paths as Randomisation } from "./generated/randomisation";

export type Problem = RecruitmentComponents["schemas"]["Problem"];

type Json<Op> = Op extends { responses: { 200: { content: { "application/json": infer T } } } }
  ? T
  : Op extends { responses: { 201: { content: { "application/json": infer T } } } }
    ? T
    : never;

export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
  }
}

export class Api {
  constructor(
    private readonly base: Record<"recruitment" | "randomisation" | "surveys" | "workshops" | "analytics", string>,
    private readonly token: string,
  ) {}

  private async call<T>(service: keyof Api["base"], method: string, path: string, body?: unknown): Promise<T> {
    const resp = await fetch(this.base[service] + path, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!resp.ok) {
      if ((resp.headers.get("content-type") ?? "").startsWith("application/problem+json")) {
        throw new ProblemError((await resp.json()) as Problem);
      }
      throw new Error(`${method} ${path}: HTTP ${resp.status}`);
    }
    return (await resp.json()) as T;
  }

  school(urn: number) {
    return this.call<Json<Recruitment["/schools/{urn}"]["get"]>>("recruitment", "GET", `/schools/${urn}`);
  }

  schools(laCode: string) {
    return this.call<Json<Recruitment["/schools"]["get"]>>("recruitment", "GET", `/schools?la_code=${laCode}`);
  }

  funnel() {
    return this.call<Json<Recruitment["/funnel"]["get"]>>("recruitment", "GET", "/funnel");
  }

  withdraw(urn: number, reason: string) {
    const body: Recruitment["/schools/{urn}/withdrawal"]["post"]["requestBody"]["content"]["application/json"] = {
      reason,
    };
    return this.call<Json<Recruitment["/schools/{urn}/withdrawal"]["post"]>>(
      "recruitment",
      "POST",
      `/schools/${urn}/withdrawal`,
      body,
    );
  }

  allocation(urn: number) {
    return this.call<Json<Randomisation["/allocations/{urn}"]["get"]>>("randomisation", "GET", `/allocations/${urn}`);
  }

  run(runId: string) {
    return this.call<Json<Randomisation["/runs/{run_id}"]["get"]>>("randomisation", "GET", `/runs/${runId}`);
  }
}

// What a screen of the SPA does with the answers: the fields it relies on must exist, typed so.
export async function schoolCard(api: Api, urn: number): Promise<string> {
  try {
    const school = await api.school(urn);
    const allocation = await api.allocation(urn);
    const staff = school.staff.map((m) => `${m.name} (${m.role})`).join(", ");
    const arm: "intervention" | "control" | string = allocation.arm;
    return `${school.urn} ${school.name}, ${school.la_name}: ${school.status ?? "not nominated"}, ${arm}; ${staff}`;
  } catch (error) {
    if (error instanceof ProblemError && error.problem.status === 404) {
      return `${urn}: ${error.problem.detail}`;
    }
    throw error;
  }
}

export async function recruitmentProgress(api: Api, laCode: string): Promise<string> {
  const [page, funnel] = await Promise.all([api.schools(laCode), api.funnel()]);
  const row = funnel.local_authorities.find((r) => r.la_code === laCode);
  const consented: number = row?.counts.consented ?? 0;
  const first = page.data[0];
  return `${page.count ?? page.data.length} schools, ${consented} consented; first: ${first?.name ?? "none"} (${first?.gias_email ?? "no email"})`;
}

export async function runProgress(api: Api, runId: string): Promise<number> {
  const run = await api.run(runId);
  return (run.notifications?.acknowledged ?? 0) / Math.max(1, run.school_count ?? 1);
}

// Analytics: cost per owner (team, project, ...) over the window, with budget states.
import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";
import { apiGet, type CostByOwner as Cost, type GroupBy } from "../api/client";
import { useApiKey } from "../auth";
import { sinceOf } from "../format";
import { OwnerChart } from "./OwnerChart";
import { OwnerTable } from "./OwnerTable";
import { Empty, ErrorBox, Loading } from "./States";

/** The owner fields, as the API names them, and as people read them. */
export const GROUP_BY: Record<GroupBy, string> = {
  team: "Team",
  project: "Project",
  customer_id: "Customer",
  cost_center: "Cost center",
  feature: "Feature",
  environment: "Environment",
};

const DOCS = "https://github.com/axonize/axonize/blob/main/docs/collector.md#owners-and-genops";

function groupBy(text: string | null): GroupBy {
  return text !== null && text in GROUP_BY ? (text as GroupBy) : "team";
}

export function CostByOwner({ window }: { window: string }) {
  const key = useApiKey();
  const [search, setSearch] = useSearchParams();
  const by = groupBy(search.get("by"));
  const cost = useQuery({
    queryKey: ["cost-by-owner", window, by],
    queryFn: () =>
      apiGet<Cost>("/analytics/cost", key, { since: sinceOf(window, "24h"), group_by: by }),
  });
  const owned = cost.data?.groups.some((g) => g.owner !== "") ?? false;
  const choose = (value: string) => {
    const next = new URLSearchParams(search);
    next.set("by", value);
    setSearch(next);
  };
  return (
    <section className="owners" data-testid="cost-by-owner">
      <h3>Cost by owner</h3>
      <label className="window">
        Group by{" "}
        <select name="by" value={by} onChange={(e) => choose(e.target.value)}>
          {Object.entries(GROUP_BY).map(([value, label]) => (
            <option key={value} value={value}>
              {label.toLowerCase()}
            </option>
          ))}
        </select>
      </label>
      {cost.isPending && <Loading what="cost by owner" />}
      {cost.isError && <ErrorBox error={cost.error} what="cost by owner" />}
      {cost.data && !owned && (
        <Empty title={`No span in this window has a ${GROUP_BY[by].toLowerCase()}`}>
          <p>
            Set owners in the SDK with{" "}
            <code>with axonize.owner({by}=&quot;...&quot;):</code> around the calls, or let the
            collector&apos;s governance processor copy them from the resource (
            <code>OTEL_RESOURCE_ATTRIBUTES=owner.{by}=...</code>); its budget processor adds the
            budget states. See <a href={DOCS}>docs/collector.md</a>.
          </p>
        </Empty>
      )}
      {cost.data && owned && (
        <div className="owner-body">
          <OwnerTable groups={cost.data.groups} label={GROUP_BY[by]} />
          <OwnerChart groups={cost.data.groups} />
        </div>
      )}
    </section>
  );
}

// Cost per owner value over the window, with the budget the collector last marked.
import type { BudgetState, CostGroup } from "../api/client";
import { num, usd } from "../format";

/** "" is the group of spans without the owner attribute. */
export function ownerName(owner: string): string {
  return owner || "(no owner)";
}

export function OwnerTable({ groups, label }: { groups: CostGroup[]; label: string }) {
  return (
    <table className="grid" data-testid="owner-table">
      <thead>
        <tr>
          <th>{label}</th>
          <th className="n">Cost</th>
          <th className="n">Spans</th>
          <th className="n">GPU-seconds</th>
          <th>Budget</th>
          <th className="n">Spent / limit</th>
          <th>State</th>
        </tr>
      </thead>
      <tbody>
        {groups.map((g) => (
          <tr key={g.owner} className={g.budget?.exceeded ? "over-budget" : undefined}>
            <td>{ownerName(g.owner)}</td>
            <td className="n">{usd(g.cost_usd)}</td>
            <td className="n">{g.spans}</td>
            <td className="n">{num(g.gpu_seconds, 1)}</td>
            <Budget budget={g.budget} />
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Budget({ budget }: { budget: BudgetState | null }) {
  if (!budget) {
    return (
      <>
        <td className="hint">none</td>
        <td className="n">–</td>
        <td>–</td>
      </>
    );
  }
  return (
    <>
      <td>{budget.name}</td>
      <td className="n">
        {usd(budget.spent_usd)} / {usd(budget.limit_usd)}
      </td>
      <td>
        <span className={budget.exceeded ? "badge over" : "badge under"}>
          {budget.exceeded ? "over budget" : "under budget"}
        </span>
      </td>
    </>
  );
}

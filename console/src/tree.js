// Tidy layout of a receivable's lineage: the root on top, each split's parts side by side
// below it, every parent centred over its parts, no two subtrees overlapping. Leaves take
// consecutive columns left to right (so parts keep their on-chain order), which is all a
// split tree needs: a parent's parts are always contiguous columns.

/**
 * Positions {id -> {column, depth}} of the tree under ``rootId``; ``nodes`` are
 * {id, children} (children missing from ``nodes``, e.g. masked in a scoped trace, are left
 * out). ``width`` is the number of columns used.
 */
export function layoutTree(nodes, rootId) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const positions = new Map();
  let nextColumn = 0;
  let height = 0;
  const place = (id, depth) => {
    height = Math.max(height, depth + 1);
    const children = (byId.get(id).children || []).filter((c) => byId.has(c));
    if (children.length === 0) {
      positions.set(id, { column: nextColumn, depth });
      nextColumn += 1;
      return;
    }
    children.forEach((c) => place(c, depth + 1));
    const first = positions.get(children[0]).column;
    const last = positions.get(children[children.length - 1]).column;
    positions.set(id, { column: (first + last) / 2, depth });
  };
  if (byId.has(rootId)) place(rootId, 0);
  return { positions, width: nextColumn, height };
}

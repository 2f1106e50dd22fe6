// Loading a page's data: the answer, the error, and a way to load again after a write.

import { createContext } from 'preact';
import { useState, useEffect, useCallback, useContext } from 'preact/hooks';

/** A count that grows with each live notification (views/worklist.js): every ``useLoad``
 * under it loads again when it changes, keeping the components' own state (a form half
 * filled in stays as it is). */
export const LiveGeneration = createContext(0);

/** ``{data, error, loading, reload}`` of ``fn()``, run again when ``deps`` change. */
export function useLoad(fn, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [generation, setGeneration] = useState(0);
  const live = useContext(LiveGeneration);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn()
      .then((data) => live && setState({ data, error: null, loading: false }))
      .catch((error) => live && setState({ data: null, error, loading: false }));
    return () => { live = false; };
  }, [...deps, generation, live]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { ...state, reload };
}

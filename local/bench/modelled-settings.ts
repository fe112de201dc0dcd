/**
 * The index-settings calls a run makes on the target (its tombstone retention, `index.gc_deletes`), as the
 * simulations' modelled targets answer them: the index sets none (the server default 60s) until a run
 * puts a value; null removes it again.
 */
export function modelledIndexSettings(): { getSettings(params: { index: string }): Promise<unknown>; putSettings(params: { index: string; body: { index: { gc_deletes: string | null } } }): Promise<unknown> } {
  const own = new Map<string, string>();
  return {
    async getSettings({ index }) {
      const value = own.get(index);
      return { body: { [index]: { settings: value === undefined ? {} : { 'index.gc_deletes': value }, defaults: { 'index.gc_deletes': '60s' } } } };
    },
    async putSettings({ index, body }) {
      const value = body.index.gc_deletes;
      if (value === null) own.delete(index);
      else own.set(index, value);
      return { body: { acknowledged: true } };
    },
  };
}

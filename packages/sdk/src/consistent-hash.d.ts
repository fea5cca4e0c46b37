// consistent-hash ships no types; this declares only the part of its API the SDK uses.
declare module 'consistent-hash' {
  interface ConsistentHashOptions {
    range?: number;
    weight?: number;
    controlPoints?: number;
    distribution?: 'random' | 'uniform';
  }
  class ConsistentHash<Node = unknown> {
    constructor(options?: ConsistentHashOptions);
    readonly nodeCount: number;
    readonly keyCount: number;
    add(node: Node, weight?: number, points?: readonly number[]): this;
    remove(node: Node): this;
    get(resourceName: string): Node | null;
    getNodes(): Node[];
    getPoints(node: Node): number[] | undefined;
  }
  export = ConsistentHash;
}

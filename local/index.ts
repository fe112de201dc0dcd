export { startLocalCluster, type LocalCluster, type LocalClusterOptions } from './clusters/cluster';
export { SERVERS, defaultVersion, type Distribution } from './clusters/distributions';
export { startLocalLedger, type LocalLedger, type LocalLedgerOptions } from './ledger/ledger';
export { startFaultProxy, type FaultProxy, type FaultRule } from './fault-proxy/fault-proxy';

export { main } from './safe-reindex';

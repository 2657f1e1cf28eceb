//! placeholder
/// placeholder
pub struct RedisQueueStore;

//! Work on many devices at once: each item's future a task of its own (a
//! slow or unreachable device holds back nobody), the results in the items'
//! order.

use std::future::Future;

use tokio::task::JoinSet;

/// Runs `work` on every item at once and returns the results in the items' order.
pub async fn at_once<T, R, F, Fut>(items: impl IntoIterator<Item = T>, work: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let mut tasks = JoinSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let future = work(item);
        tasks.spawn(async move { (index, future.await) });
    }
    let mut results = tasks.join_all().await;
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn all_run_together_and_the_results_keep_the_items_order() {
        // Each waits for all three: one after the other would never end.
        let together = Arc::new(tokio::sync::Barrier::new(3));
        let run = at_once([30u64, 10, 20], |ms| {
            let together = together.clone();
            async move {
                together.wait().await;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ms
            }
        });
        let results = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("the three ran one after the other");
        assert_eq!(results, [30, 10, 20]);
    }
}

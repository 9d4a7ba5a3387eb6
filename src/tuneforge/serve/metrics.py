"""The Prometheus metrics every TuneForge server exports (the monitor and capture add theirs)."""

from __future__ import annotations


def service_metrics():
    """The service's Prometheus metrics, in a registry of their own (one per app)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()

    class Metrics:
        pass

    m = Metrics()
    m.registry = registry
    m.requests = Counter("tuneforge_requests_total", "HTTP requests", ["route", "status"], registry=registry)
    m.latency = Histogram("tuneforge_request_latency_seconds", "request latency", ["route"], registry=registry,
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    m.batch_size = Histogram("tuneforge_batch_size", "texts per forward pass", registry=registry,
                             buckets=(1, 2, 4, 8, 16, 32, 64, 128))
    m.queue_depth = Gauge("tuneforge_queue_depth", "texts waiting for a forward pass", registry=registry)
    m.ready = Gauge("tuneforge_ready", "1 when /readyz answers ready", registry=registry)
    m.rejected = Counter("tuneforge_rejected_total", "requests refused or dropped", ["reason"], registry=registry)
    m.prompt_tokens = Counter("tuneforge_prompt_tokens_total", "prompt tokens of generation requests", registry=registry)
    m.generation_cancelled = Counter("tuneforge_generation_cancelled_total",
                                     "answers stopped because their client went away", registry=registry)
    m.generated_tokens = Counter("tuneforge_generated_tokens_total", "tokens generated", registry=registry)
    m.time_to_first_token = Histogram("tuneforge_time_to_first_token_seconds", "from arrival to the first token",
                                      registry=registry, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
    m.tokens_per_second = Histogram("tuneforge_generation_tokens_per_second", "decoding speed of one answer",
                                    registry=registry, buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))
    m.model_predictions = Counter("tuneforge_model_predictions_total", "predictions by the model that made them "
                                  "(primary or canary)", ["model"], registry=registry)
    m.model_labels = Counter("tuneforge_model_predicted_label_total", "predicted labels by model", ["model", "label"],
                             registry=registry)
    m.model_latency = Histogram("tuneforge_model_latency_seconds", "queue and inference time by model", ["model"],
                                registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    return m

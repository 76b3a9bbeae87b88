// Values shared by the chart tests.

/** Values a cautious platform team might set: every option away from its default. */
export const CUSTOM_VALUES = {
  fullnameOverride: "capsules",
  image: {
    repository: "registry.example.com/platform/qcap-operator",
    digest: `sha256:${"ab".repeat(32)}`,
    pullPolicy: "Always",
  },
  imagePullSecrets: [{ name: "regcred" }],
  replicaCount: 2,
  leaderElection: {
    enabled: true,
    leaseName: "qcap-leader",
    leaseDuration: "30s",
    renewDeadline: "20s",
    retryPeriod: "4s",
  },
  watchNamespaces: ["team-a", "team-b"],
  serviceAccount: { create: true, name: "qcap", annotations: { "example.com/role": "publisher" } },
  logLevel: "debug",
  reconcile: { workers: 4, resync: "1h30m", backoff: "1.5s", maxBackoff: "10m" },
  shutdownTimeout: "50s",
  s3: { connectTimeout: "5s", idleTimeout: "20s", requestTimeout: "10m", maxPerDestination: 2 },
  httpSources: {
    allow: ["artifacts.example.org", "*.mirror.example.org:8443", "10.20.0.0/16"],
    deny: ["203.0.113.0/24"],
    maxSize: "512Mi",
    timeout: "1m",
    deadline: "1h",
  },
  terminationGracePeriodSeconds: 60,
  extraEnv: [{ name: "AWS_REGION", value: "eu-west-1" }],
  extraArgs: ["--identity=fixed"],
  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "2", memory: "1Gi" } },
  tmpVolume: { sizeLimit: "10Gi" },
  port: 9090,
  metrics: {
    service: { enabled: true, port: 9100, annotations: { "prometheus.io/scrape": "true" } },
    serviceMonitor: { enabled: true, interval: "15s", scrapeTimeout: "5s", labels: { release: "prom" } },
  },
  podAnnotations: { "example.com/team": "data" },
  podLabels: { team: "data" },
  nodeSelector: { "kubernetes.io/os": "linux" },
  tolerations: [{ key: "dedicated", operator: "Equal", value: "platform", effect: "NoSchedule" }],
  affinity: {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            topologyKey: "kubernetes.io/hostname",
            labelSelector: { matchLabels: { "app.kubernetes.io/name": "qcap-operator" } },
          },
        },
      ],
    },
  },
  priorityClassName: "platform-critical",
};

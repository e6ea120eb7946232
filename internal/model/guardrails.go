package model

// Guardrails bound what tenants may ask of each system (policy.guardrails).
type Guardrails struct {
	Kubernetes KubernetesGuardrails `json:"kubernetes"`
	Kafka      KafkaGuardrails      `json:"kafka"`
	Kong       KongGuardrails       `json:"kong"`
}

// KubernetesGuardrails bound tenants on Kubernetes.
type KubernetesGuardrails struct{}

// KafkaGuardrails bound tenants on Kafka.
type KafkaGuardrails struct{}

// KongGuardrails bound tenants on Kong.
type KongGuardrails struct{}

// InputLimits bound what k3sync reads and evaluates of the tenant folders
// (policy.input).
type InputLimits struct{}

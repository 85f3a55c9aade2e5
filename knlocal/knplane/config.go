package knplane

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The ConfigMaps Knative ships for its data plane: the properties of the
// receiver's producer and HTTP server, and of the dispatcher's consumer,
// producer and web client. They are read from the built copy of
// data-plane/, so the local run uses Knative's own defaults.
var configMaps = map[string]string{
	"receiver":   filepath.Join("config", "sink", "100-config-kafka-sink-data-plane.yaml"),
	"dispatcher": filepath.Join("config", "source", "100-config-kafka-source-data-plane.yaml"),
}

// loopbackOnly keeps the receiver's ingress on 127.0.0.1: in its pod it
// binds every interface (Vert.x's default host), here that would expose
// the KafkaSinks to the network. The properties file is read into the
// HttpServerOptions, whose host the receiver listens on.
var loopbackOnly = map[string]map[string]string{
	"config-kafka-sink-httpserver.properties": {"host": "127.0.0.1"},
}

// Files of a config folder.
const (
	ReceiverContract   = "receiver-contract.json"
	DispatcherContract = "dispatcher-contract.json"
	logbackFile        = "logback.xml"
)

// Config is what a config folder is written from.
type Config struct {
	// Source is the built data-plane/ folder (its config/ ConfigMaps).
	Source string
	// Namespace is the topology's namespace (the pods' SERVICE_NAMESPACE).
	Namespace string
	// IngressPort is where the receiver serves the KafkaSinks;
	// IngressTLSPort is required by the receiver but unused (no TLS secret).
	IngressPort, IngressTLSPort int
	// Properties override single entries of the shipped properties files,
	// by file name (e.g. "config-kafka-source-consumer.properties") then
	// key.
	Properties map[string]map[string]string
	// LogLevel of the Knative loggers (INFO unless set).
	LogLevel string
}

// ReadinessPath is the receiver's readiness probe.
const ReadinessPath = "/readyz"

// WriteConfig writes the config folder dir: the properties files (the
// shipped ConfigMaps' data with Config.Properties over them), the two
// env files the script's exec reads, the logback configuration, and the
// empty observability and features folders (metrics, tracing and OIDC
// off). The contracts are written separately (WriteContract).
func WriteConfig(dir string, c Config) error {
	for _, sub := range []string{"observability", "features"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	props := map[string]string{}
	for _, role := range []string{"receiver", "dispatcher"} {
		files, err := readConfigMap(filepath.Join(c.Source, configMaps[role]))
		if err != nil {
			return err
		}
		for name, body := range files {
			set := maps.Clone(loopbackOnly[name])
			if set == nil {
				set = map[string]string{}
			}
			maps.Copy(set, c.Properties[name])
			body = override(body, set)
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				return err
			}
			props[name] = path
		}
	}
	need := func(name string) (string, error) {
		if p, ok := props[name]; ok {
			return p, nil
		}
		return "", fmt.Errorf("knplane: the shipped ConfigMaps in %s have no %s", c.Source, name)
	}
	common := func(contract string) []string {
		return []string{
			"SERVICE_NAMESPACE=" + c.Namespace,
			"DATA_PLANE_CONFIG_FILE_PATH=" + filepath.Join(dir, contract),
			"CONFIG_OBSERVABILITY_PATH=" + filepath.Join(dir, "observability"),
			"CONFIG_FEATURES_PATH=" + filepath.Join(dir, "features"),
			"METRICS_PUBLISH_QUANTILES=false", "METRICS_JVM_ENABLED=false",
			"HTTP2_DISABLE=true", "WAIT_STARTUP_SECONDS=8",
		}
	}
	var recv, disp []string
	for _, e := range []struct {
		out  *[]string
		key  string
		file string
	}{
		{&recv, "PRODUCER_CONFIG_FILE_PATH", "config-kafka-sink-producer.properties"},
		{&recv, "HTTPSERVER_CONFIG_FILE_PATH", "config-kafka-sink-httpserver.properties"},
		{&disp, "PRODUCER_CONFIG_FILE_PATH", "config-kafka-source-producer.properties"},
		{&disp, "CONSUMER_CONFIG_FILE_PATH", "config-kafka-source-consumer.properties"},
		{&disp, "WEBCLIENT_CONFIG_FILE_PATH", "config-kafka-source-webclient.properties"},
	} {
		p, err := need(e.file)
		if err != nil {
			return err
		}
		*e.out = append(*e.out, e.key+"="+p)
	}
	recv = append(append(recv, common(ReceiverContract)...), "SERVICE_NAME=kafka-sink-receiver",
		fmt.Sprintf("INGRESS_PORT=%d", c.IngressPort), fmt.Sprintf("INGRESS_TLS_PORT=%d", c.IngressTLSPort),
		"LIVENESS_PROBE_PATH=/healthz", "READINESS_PROBE_PATH="+ReadinessPath)
	disp = append(append(disp, common(DispatcherContract)...), "SERVICE_NAME=kafka-source-dispatcher",
		"EGRESSES_INITIAL_CAPACITY=20", "INSTANCE_ID=local-dispatcher")
	for name, lines := range map[string][]string{"receiver.env": recv, "dispatcher.env": disp} {
		if err := writeEnv(filepath.Join(dir, name), lines); err != nil {
			return err
		}
	}
	level := c.LogLevel
	if level == "" {
		level = "INFO"
	}
	return os.WriteFile(filepath.Join(dir, logbackFile), []byte(fmt.Sprintf(logback, level)), 0o644)
}

// writeEnv writes KEY=VALUE lines the script sources: each value single
// quoted, so a path with spaces survives.
func writeEnv(path string, lines []string) error {
	slices.Sort(lines)
	var b strings.Builder
	b.WriteString("# written by knlocal/knplane: the env of Knative's Deployment, for knlocal/scripts/knative-dataplane.sh exec\n")
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		if strings.Contains(v, "'") {
			return fmt.Errorf("knplane: %s: a quote in %s=%q", path, k, v)
		}
		fmt.Fprintf(&b, "%s='%s'\n", k, v)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// readConfigMap returns the data of a ConfigMap manifest, by key.
func readConfigMap(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("knplane: Knative's data-plane ConfigMap: %w (build it with knlocal/scripts/knative-dataplane.sh build)", err)
	}
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		return nil, fmt.Errorf("knplane: %s: %w", path, err)
	}
	if cm.Kind != "ConfigMap" || len(cm.Data) == 0 {
		return nil, fmt.Errorf("knplane: %s is not a ConfigMap with data", path)
	}
	delete(cm.Data, "_example")
	return cm.Data, nil
}

// override sets keys of a properties file: an existing line is replaced
// in place, a new key appended.
func override(body string, set map[string]string) string {
	if len(set) == 0 {
		return body
	}
	done := map[string]bool{}
	lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
	for i, l := range lines {
		k, _, ok := strings.Cut(l, "=")
		k = strings.TrimSpace(k)
		if v, want := set[k]; ok && want && !strings.HasPrefix(k, "#") {
			lines[i] = k + "=" + v
			done[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if !done[k] {
			lines = append(lines, k+"="+set[k])
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// WriteContract writes c as the contract file name in dir, atomically
// (the data plane watches the file and reloads it when the generation
// changes).
func WriteContract(dir, name string, c Contract) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// logback keeps Knative's own lines at the level given and the clients'
// chatter at WARN (the receiver's EventType informer retries the
// Kubernetes API forever, at DEBUG).
const logback = `<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%%d{HH:mm:ss.SSS} %%-5level %%logger{36} - %%msg%%n</pattern></encoder>
  </appender>
  <logger name="io.netty" level="WARN"/>
  <logger name="org.apache.kafka" level="WARN"/>
  <logger name="io.fabric8" level="WARN"/>
  <logger name="io.vertx" level="WARN"/>
  <logger name="dev.knative" level="%s"/>
  <root level="WARN"><appender-ref ref="STDOUT"/></root>
</configuration>
`

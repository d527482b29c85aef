package deploy_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/cerberus-iam/cerberus/internal/config"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

const namespace = "cerberus"

// manifests is every object under deploy/kubernetes, decoded strictly.
type manifests struct {
	namespace  *corev1.Namespace
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
	deployment *appsv1.Deployment
	service    *corev1.Service
	ingress    *networkingv1.Ingress
	job        *batchv1.Job
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// loadManifests decodes every YAML document of deploy/kubernetes into its
// official Kubernetes type, refusing duplicate keys, unknown fields and
// kinds outside the expected set, and a kind given twice.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	m := &manifests{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range docSeparator.Split(string(raw), -1) {
			if strings.TrimSpace(stripComments(doc)) != "" {
				m.decode(t, filepath.Base(f), []byte(doc))
			}
		}
	}
	return m
}

func stripComments(doc string) string {
	var keep []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func (m *manifests) decode(t *testing.T, file string, doc []byte) {
	t.Helper()
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	switch k := tm.APIVersion + "/" + tm.Kind; k {
	case "v1/Namespace":
		decodeInto(t, file, js, &m.namespace)
	case "v1/ConfigMap":
		decodeInto(t, file, js, &m.configMap)
	case "v1/Secret":
		decodeInto(t, file, js, &m.secret)
	case "apps/v1/Deployment":
		decodeInto(t, file, js, &m.deployment)
	case "v1/Service":
		decodeInto(t, file, js, &m.service)
	case "networking.k8s.io/v1/Ingress":
		decodeInto(t, file, js, &m.ingress)
	case "batch/v1/Job":
		decodeInto(t, file, js, &m.job)
	case "policy/v1/PodDisruptionBudget":
		decodeInto(t, file, js, &m.pdb)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		decodeInto(t, file, js, &m.hpa)
	default:
		t.Fatalf("%s: unexpected object %s", file, k)
	}
}

// decodeInto decodes js strictly into a new T stored in *dst; a second
// object of the same kind is an error.
func decodeInto[T any](t *testing.T, file string, js []byte, dst **T) {
	t.Helper()
	if *dst != nil {
		t.Fatalf("%s: a second %T", file, *dst)
	}
	var v T
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %T does not decode strictly: %v", file, v, err)
	}
	*dst = &v
}

// TestManifestsAreComplete checks that every expected object is present,
// lives in the cerberus namespace, and that the references between them
// resolve.
func TestManifestsAreComplete(t *testing.T) {
	m := loadManifests(t)
	if m.namespace == nil || m.configMap == nil || m.secret == nil ||
		m.deployment == nil || m.service == nil || m.ingress == nil || m.job == nil ||
		m.pdb == nil || m.hpa == nil {
		t.Fatalf("missing objects: %+v", m)
	}
	if m.namespace.Name != namespace {
		t.Errorf("namespace %q", m.namespace.Name)
	}
	for _, o := range []metav1.Object{m.configMap, m.secret, m.deployment, m.service,
		m.ingress, m.job, m.pdb, m.hpa} {
		if o.GetNamespace() != namespace {
			t.Errorf("%s is in namespace %q, want %q", o.GetName(), o.GetNamespace(),
				namespace)
		}
	}
	pod := m.deployment.Spec.Template
	if !selects(m.deployment.Spec.Selector.MatchLabels, pod.Labels) ||
		!selects(m.service.Spec.Selector, pod.Labels) ||
		!selects(m.pdb.Spec.Selector.MatchLabels, pod.Labels) {
		t.Error("a selector does not match the server pods")
	}
	if ref := m.hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" ||
		ref.Name != m.deployment.Name {
		t.Errorf("HPA targets %s/%s", ref.Kind, ref.Name)
	}
	backend := m.ingress.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if backend.Name != m.service.Name || backend.Port.Name != m.service.Spec.Ports[0].Name {
		t.Errorf("ingress backend %s:%s is not the service", backend.Name, backend.Port.Name)
	}
	if m.service.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("service targets %v", m.service.Spec.Ports[0].TargetPort)
	}
	for _, spec := range []corev1.PodSpec{pod.Spec, m.job.Spec.Template.Spec} {
		assertEnvFrom(t, spec.Containers[0], m.configMap.Name, m.secret.Name)
	}
}

// selects reports whether every label of sel is on labels.
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func assertEnvFrom(t *testing.T, c corev1.Container, configMap, secret string) {
	t.Helper()
	var cms, secrets []string
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			cms = append(cms, e.ConfigMapRef.Name)
		}
		if e.SecretRef != nil {
			secrets = append(secrets, e.SecretRef.Name)
		}
	}
	if !slices.Equal(cms, []string{configMap}) || !slices.Equal(secrets, []string{secret}) {
		t.Errorf("container %s envFrom config maps %v, secrets %v", c.Name, cms, secrets)
	}
}

// TestDeploymentShape checks the rollout, resources, probes and pod
// security of the server Deployment and the migration Job.
func TestDeploymentShape(t *testing.T) {
	m := loadManifests(t)
	d := m.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		*ru.MaxSurge != intstr.FromInt32(1) || *ru.MaxUnavailable != intstr.FromInt32(0) {
		t.Errorf("strategy %+v", d.Spec.Strategy)
	}
	c := d.Spec.Template.Spec.Containers[0]
	assertResources(t, c.Resources, map[string]string{"requests.memory": "512Mi",
		"requests.cpu": "500m", "limits.memory": "2Gi", "limits.cpu": "2"})
	assertProbe(t, "liveness", c.LivenessProbe, "/health", [4]int32{30, 30, 5, 3})
	assertProbe(t, "readiness", c.ReadinessProbe, "/health/ready", [4]int32{10, 10, 5, 2})
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 4000 {
		t.Errorf("container ports %+v, want 4000", c.Ports)
	}
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("server args %v", c.Args)
	}
	if len(d.Spec.Template.Spec.Volumes) > 0 {
		t.Errorf("volumes %v: the server writes nothing to disk", d.Spec.Template.Spec.Volumes)
	}
	jc := m.job.Spec.Template.Spec.Containers[0]
	if !slices.Equal(jc.Args, []string{"migrate", "up"}) || jc.Image != c.Image {
		t.Errorf("migration job runs %v on %s, want migrate up on %s", jc.Args, jc.Image,
			c.Image)
	}
	for _, spec := range []corev1.PodSpec{d.Spec.Template.Spec, m.job.Spec.Template.Spec} {
		assertHardened(t, spec)
	}
	if p := m.configMap.Data["PORT"]; p != "4000" {
		t.Errorf("ConfigMap PORT %q, want 4000 (the probes' port)", p)
	}
}

func assertResources(t *testing.T, r corev1.ResourceRequirements, want map[string]string) {
	t.Helper()
	got := map[string]resource.Quantity{
		"requests.memory": r.Requests[corev1.ResourceMemory],
		"requests.cpu":    r.Requests[corev1.ResourceCPU],
		"limits.memory":   r.Limits[corev1.ResourceMemory],
		"limits.cpu":      r.Limits[corev1.ResourceCPU],
	}
	for k, v := range want {
		q := got[k]
		if q.Cmp(resource.MustParse(v)) != 0 {
			t.Errorf("%s = %s, want %s", k, q.String(), v)
		}
	}
}

// assertProbe checks an HTTP probe's path, port 4000 and its initial
// delay, period, timeout and failure threshold.
func assertProbe(t *testing.T, name string, p *corev1.Probe, path string, timing [4]int32) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Fatalf("%s probe is not an HTTP GET", name)
	}
	if p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromInt32(4000) {
		t.Errorf("%s probe GET %s port %v, want %s port 4000", name, p.HTTPGet.Path,
			p.HTTPGet.Port.String(), path)
	}
	got := [4]int32{p.InitialDelaySeconds, p.PeriodSeconds, p.TimeoutSeconds,
		p.FailureThreshold}
	if got != timing {
		t.Errorf("%s probe delay/period/timeout/failures %v, want %v", name, got, timing)
	}
}

func assertHardened(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod security context %+v does not force a non-root user", psc)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		ok := sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem &&
			sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation &&
			sc.Capabilities != nil &&
			slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"})
		if !ok {
			t.Errorf("container %s security context %+v", c.Name, sc)
		}
	}
}

// TestProbePathsAnswerOnTheServer asks the real binary the probe paths of
// the Deployment: each must answer 200 on a healthy instance.
func TestProbePathsAnswerOnTheServer(t *testing.T) {
	c := loadManifests(t).deployment.Spec.Template.Spec.Containers[0]
	s := e2e.Start(t, e2e.Options{})
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		resp, err := http.Get(s.URL + p.HTTPGet.Path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p.HTTPGet.Path, resp.StatusCode)
		}
	}
}

// TestManifestConfigurationIsValid loads the ConfigMap and the example
// Secret, with real values in place of the placeholders, through the
// configuration loader in production mode: no problem, and every key a
// documented variable.
func TestManifestConfigurationIsValid(t *testing.T) {
	m := loadManifests(t)
	env := map[string]string{}
	for k, v := range m.configMap.Data {
		env[k] = v
	}
	for k, v := range m.secret.StringData {
		if !strings.Contains(v, "CHANGE_ME") {
			t.Errorf("example secret %s is not a placeholder", k)
		}
		env[k] = strings.ReplaceAll(v, "CHANGE_ME", "x")
	}
	if len(m.secret.Data) > 0 {
		t.Error("the example secret must use stringData placeholders only")
	}
	env["SECRET_ENCRYPTION_KEY"] = testKey
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	cfg, problems, _, err := config.Load(environ, t.TempDir())
	if err != nil || len(problems) > 0 {
		t.Fatalf("manifest configuration: %v %v", err, problems)
	}
	if !cfg.Production() || cfg.Port != 4000 {
		t.Errorf("NODE_ENV %s, PORT %d", cfg.Env, cfg.Port)
	}
	assertKnownVariables(t, env)
}

// Package deploy holds no code: it is the home of the deployment
// artifacts (Kubernetes manifests, the nginx sample, Prometheus rules and
// the Grafana dashboard) and of the tests that hold them to the server
// they deploy. The container files (Dockerfile, docker-compose.yml) sit at
// the repository root, where the build context begins.
package deploy

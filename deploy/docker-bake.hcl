# The two images CI pushes, for `docker buildx bake` (deploy/build-push.sh). Their names must be the ones
# compose.yaml runs (`${REGISTRY}/chatbot:${TAG}`, `${REGISTRY}/chatbot-nginx:${TAG}`); contexts, Dockerfiles and
# build args mirror its `build:` sections. Not baked from compose.yaml itself: bake then insists that the
# runtime-only `env_file: .env` exists, and a CI runner never has one.
variable "REGISTRY" {}
variable "TAG" {}
variable "PYTHON_IMAGE" { default = "python:3.13-slim" }
variable "NGINX_IMAGE" { default = "nginx:stable" }

group "default" {
  targets = ["chatbot", "nginx"]
}

target "_common" {
  # The VM is x86-64 (e2 machine types); stating it keeps an arm64 laptop from pushing the wrong architecture.
  platforms = ["linux/amd64"]
  labels = {
    "org.opencontainers.image.revision" = TAG
  }
}

target "chatbot" {
  inherits   = ["_common"]
  context    = "."
  dockerfile = "chatbot/Dockerfile"
  args       = { PYTHON_IMAGE = PYTHON_IMAGE }
  tags       = ["${REGISTRY}/chatbot:${TAG}"]
}

target "nginx" {
  inherits = ["_common"]
  context  = "nginx"
  args     = { NGINX_IMAGE = NGINX_IMAGE }
  tags     = ["${REGISTRY}/chatbot-nginx:${TAG}"]
}

"""The edge log shipper: Nginx's access and error logs, read from files in a volume shared with Nginx, sent to
Cloud Logging as structured entries (`python -m chatbot.shipper`, a service of its own in compose.yaml).

`tail` follows each file across rotations from a position kept on disk; `entries` turns lines into entries;
`sink` writes batches to the Logging API; `ship` is the loop that ties them, advancing positions only once a
batch is accepted.
"""

"""The widget's end-to-end harness: host pages, the Shopify block rendered, one Chromium run."""

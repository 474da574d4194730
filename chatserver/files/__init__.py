"""Files and images in the chat: settings, sniffing, storage, the upload and download doors."""

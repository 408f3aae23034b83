<?php
/**
 * Removes everything the plugin stored when it is deleted from the Plugins screen.
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
	exit;
}

/**
 * Deletes the option and the rate-limit windows of the current site.
 */
function chatbot_faq_uninstall_site() {
	global $wpdb;

	delete_option( 'chatbot_faq_settings' );

	// Rate-limit windows are rows named chatbot_faq_rl_<hash> (Chatbot_FAQ_Rate_Limiter); 1.0.0 kept them in
	// transients, _transient_chatbot_faq_rl_<hash> and _transient_timeout_chatbot_faq_rl_<hash>.
	// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery, WordPress.DB.DirectDatabaseQuery.NoCaching -- one-off cleanup.
	$wpdb->query(
		$wpdb->prepare(
			"DELETE FROM {$wpdb->options} WHERE option_name LIKE %s OR option_name LIKE %s OR option_name LIKE %s",
			$wpdb->esc_like( 'chatbot_faq_rl_' ) . '%',
			$wpdb->esc_like( '_transient_chatbot_faq_rl_' ) . '%',
			$wpdb->esc_like( '_transient_timeout_chatbot_faq_rl_' ) . '%'
		)
	);
}

if ( is_multisite() ) {
	foreach ( get_sites( array( 'fields' => 'ids' ) ) as $chatbot_faq_site_id ) {
		switch_to_blog( $chatbot_faq_site_id );
		chatbot_faq_uninstall_site();
		restore_current_blog();
	}
} else {
	chatbot_faq_uninstall_site();
}

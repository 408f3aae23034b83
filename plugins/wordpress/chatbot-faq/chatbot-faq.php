<?php
/**
 * Plugin Name:       Chatbot FAQ
 * Plugin URI:        https://github.com/chatbot-mvp/chatbot-mvp
 * Description:       A smart FAQ chat box for your pages ([chatbot_faq]). Visitors talk to WordPress only; WordPress calls your self-hosted chatbot with the API key kept on the server.
 * Version:           1.0.0
 * Requires at least: 6.1
 * Requires PHP:      7.4
 * Author:            chatbot-mvp
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       chatbot-faq
 * Domain Path:       /languages
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

define( 'CHATBOT_FAQ_VERSION', '1.0.0' );
define( 'CHATBOT_FAQ_FILE', __FILE__ );
define( 'CHATBOT_FAQ_DIR', plugin_dir_path( __FILE__ ) );
define( 'CHATBOT_FAQ_URL', plugin_dir_url( __FILE__ ) );

require_once CHATBOT_FAQ_DIR . 'includes/class-chatbot-faq-settings.php';
require_once CHATBOT_FAQ_DIR . 'includes/class-chatbot-faq-client.php';
require_once CHATBOT_FAQ_DIR . 'includes/class-chatbot-faq-rate-limiter.php';
require_once CHATBOT_FAQ_DIR . 'includes/class-chatbot-faq-rest.php';
require_once CHATBOT_FAQ_DIR . 'includes/class-chatbot-faq-shortcode.php';
require_once CHATBOT_FAQ_DIR . 'includes/class-chatbot-faq-admin.php';

/**
 * Loads the plugin's translations (languages/chatbot-faq-<locale>.mo).
 */
function chatbot_faq_load_textdomain() {
	load_plugin_textdomain( 'chatbot-faq', false, dirname( plugin_basename( CHATBOT_FAQ_FILE ) ) . '/languages' );
}
add_action( 'init', 'chatbot_faq_load_textdomain' );

Chatbot_FAQ_REST::register_hooks();
Chatbot_FAQ_Rate_Limiter::register_hooks();
Chatbot_FAQ_Shortcode::register_hooks();

if ( is_admin() ) {
	Chatbot_FAQ_Admin::register_hooks();
}
